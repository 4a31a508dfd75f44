/**
 * `fgclip train`: fine-tune (or train from a fresh small model) with the library's `Trainer`; and
 * `fgclip synthetic`: write the synthetic fine-grained dataset (FineHARD format) the demo model is trained on.
 * Progress (loss, lr, samples/s, ETA) goes to stderr on a TTY; Ctrl-C stops after the current step with a
 * resumable checkpoint (a second Ctrl-C aborts at once).
 */
import { familyOf } from '../../families/registry.js';
import { isFgclip2BatchFile, trainFgclip2 } from '../../families/fgclip2/train.js';
import { resolveModelDir } from '../../hub/index.js';
import { defaultEngineFactory } from '../../train/default-engine.js';
import { SYNTHETIC_MODEL_SPEC, type SmallModelSpec } from '../../train/init.js';
import { generateSyntheticDataset } from '../../train/synthetic/scenes.js';
import { Trainer, type FreezeOptions, type TrainerOptions } from '../../train/trainer.js';
import { flag, int, parse, printJson, str, strs, UsageError, type Io, type Options } from '../args.js';

const TRAIN_OPTIONS: Options = {
  model: { type: 'string', short: 'm' },
  init: { type: 'string' },
  'tokenizer-from': { type: 'string' },
  data: { type: 'string' },
  images: { type: 'string' },
  'eval-data': { type: 'string' },
  'eval-images': { type: 'string' },
  'eval-every': { type: 'string' },
  out: { type: 'string', short: 'o' },
  stage: { type: 'string' },
  'batch-size': { type: 'string' },
  steps: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  'warmup-steps': { type: 'string' },
  schedule: { type: 'string' },
  'weight-decay': { type: 'string' },
  'max-grad-norm': { type: 'string' },
  'text-lr-scale': { type: 'string' },
  'region-weight': { type: 'string' },
  'hard-negative-weight': { type: 'string' },
  'chunk-size': { type: 'string' },
  'keep-region-scales': { type: 'boolean' },
  freeze: { type: 'string', multiple: true },
  'freeze-layers': { type: 'string' },
  seed: { type: 'string' },
  'save-every': { type: 'string' },
  keep: { type: 'string' },
  'no-resume': { type: 'boolean' },
  'on-bad-record': { type: 'string' },
  bilingual: { type: 'boolean' },
  workers: { type: 'string' },
  threads: { type: 'string' },
  'final-dtype': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

type Values = ReturnType<typeof parse>['values'];

function num(values: Values, name: string, check: (x: number) => boolean, expected: string): number | undefined {
  const s = str(values, name);
  if (s === undefined) return undefined;
  const x = s === 'inf' ? Infinity : Number(s);
  if (s.trim() === '' || Number.isNaN(x) || !check(x)) throw new UsageError(`--${name}: expected ${expected} (got ${JSON.stringify(s)})`);
  return x;
}

const nonNeg = (x: number) => Number.isFinite(x) && x >= 0;
/** progress lines when stderr is not a terminal: at most one per 30 s (plus the first and last step) */
const PROGRESS_EVERY_MS = 30_000;

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export async function trainCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('train', argv, TRAIN_OPTIONS);
  if (positionals.length) throw new UsageError(`train: unexpected arguments ${JSON.stringify(positionals)}`);
  const data = str(values, 'data');
  const out = str(values, 'out');
  if (!data) throw new UsageError('train: --data FILE is required (FineHARD JSON/JSONL for stage 2; image,caption JSONL/CSV for stage 1)');
  if (!out) throw new UsageError('train: --out DIR is required (checkpoints, final model and train-log.jsonl go there)');
  const model = str(values, 'model');
  const initName = str(values, 'init');
  if (!!model === !!initName) throw new UsageError('train: give --model DIR|REPO (fine-tune) or --init synthetic (a fresh small model), not both');
  let init: TrainerOptions['init'];
  if (initName) {
    if (initName !== 'synthetic') throw new UsageError(`--init: expected synthetic (got ${JSON.stringify(initName)})`);
    const tok = str(values, 'tokenizer-from');
    if (!tok) throw new UsageError('train --init: --tokenizer-from DIR (a CLIP checkpoint folder with tokenizer files) is required');
    init = { spec: SYNTHETIC_MODEL_SPEC as SmallModelSpec, tokenizerFrom: tok };
  }
  const stageS = str(values, 'stage') ?? '2';
  if (stageS !== '1' && stageS !== '2') throw new UsageError(`--stage: expected 1 or 2 (got ${JSON.stringify(stageS)})`);
  const schedule = str(values, 'schedule');
  if (schedule !== undefined && schedule !== 'cosine' && schedule !== 'linear' && schedule !== 'constant')
    throw new UsageError(`--schedule: expected cosine, linear or constant (got ${JSON.stringify(schedule)})`);
  const policy = str(values, 'on-bad-record');
  if (policy !== undefined && policy !== 'skip' && policy !== 'fail')
    throw new UsageError(`--on-bad-record: expected skip or fail (got ${JSON.stringify(policy)})`);
  const finalDtype = str(values, 'final-dtype');
  if (finalDtype !== undefined && finalDtype !== 'f32' && finalDtype !== 'f16')
    throw new UsageError(`--final-dtype: expected f32 or f16 (got ${JSON.stringify(finalDtype)})`);
  const freeze: { -readonly [K in keyof FreezeOptions]: FreezeOptions[K] } = {};
  for (const f of strs(values, 'freeze')) {
    if (f === 'vision') freeze.vision = true;
    else if (f === 'text') freeze.text = true;
    else if (f === 'all-but-projections') freeze.onlyProjections = true;
    else throw new UsageError(`--freeze: expected vision, text or all-but-projections (got ${JSON.stringify(f)})`);
  }
  freeze.firstLayers = int(values, 'freeze-layers', 0);
  if (str(values, 'steps') !== undefined && str(values, 'epochs') !== undefined) throw new UsageError('train: give --steps N or --epochs N, not both');
  if (!str(values, 'eval-data')) {
    for (const f of ['eval-every', 'eval-images'])
      if (str(values, f) !== undefined) throw new UsageError(`train: --${f} needs --eval-data FILE (the held-out records)`);
  }
  const quiet = flag(values, 'quiet');
  const tty = !quiet && io.stderr.isTTY === true;
  const say = (m: string) => {
    if (!quiet) io.stderr.write(`${tty ? '\r\x1b[K' : ''}fgclip train: ${m}\n`);
  };
  const threads = int(values, 'threads');
  let lastProgress: number | undefined;
  const options: TrainerOptions = {
    model,
    init,
    data,
    imagesDir: str(values, 'images'),
    evalData: str(values, 'eval-data'),
    evalImagesDir: str(values, 'eval-images'),
    evalEvery: int(values, 'eval-every'),
    out,
    stage: Number(stageS) as 1 | 2,
    batchSize: int(values, 'batch-size', 2),
    steps: int(values, 'steps'),
    epochs: int(values, 'epochs'),
    lr: num(values, 'lr', nonNeg, 'a number ≥ 0'),
    warmupSteps: int(values, 'warmup-steps', 0),
    schedule: schedule as TrainerOptions['schedule'],
    weightDecay: num(values, 'weight-decay', nonNeg, 'a number ≥ 0'),
    maxGradNorm: num(values, 'max-grad-norm', (x) => x > 0, 'a number > 0 or inf'),
    textLrScale: num(values, 'text-lr-scale', nonNeg, 'a number ≥ 0'),
    regionWeight: num(values, 'region-weight', nonNeg, 'a number ≥ 0'),
    hardNegativeWeight: num(values, 'hard-negative-weight', nonNeg, 'a number ≥ 0'),
    chunkSize: int(values, 'chunk-size'),
    initRegionScales: !flag(values, 'keep-region-scales'),
    freeze,
    seed: int(values, 'seed', 0),
    saveEvery: int(values, 'save-every'),
    keepCheckpoints: int(values, 'keep'),
    resume: !flag(values, 'no-resume'),
    onBadRecord: policy as 'skip' | 'fail' | undefined,
    workers: int(values, 'workers'),
    finalDtype: finalDtype === 'f16' ? 'F16' : finalDtype === 'f32' ? 'F32' : undefined,
    engine: defaultEngineFactory({ threads }),
    // a terminal gets one updating line; a log (not a TTY) a line at this run's first and last step and every 30 s
    onStep: quiet
      ? undefined
      : (s, eta) => {
          const line = `step ${eta.done}/${eta.total}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toExponential(2)}  ${s.samplesPerSecond.toFixed(1)} samples/s  ETA ${fmtTime(eta.secondsLeft)}`;
          if (tty) io.stderr.write(`\r\x1b[K${line}`);
          else if (lastProgress === undefined || eta.done === eta.total || performance.now() - lastProgress >= PROGRESS_EVERY_MS) {
            lastProgress = performance.now();
            io.stderr.write(`fgclip train: ${line}\n`);
          }
        },
    onBadRecordSkipped: (b) => say(`skipped ${b.where}: ${b.reason}`),
    onEval: (step, m) =>
      say(
        `eval at step ${step}: image→text R@1 ${(100 * m.imageToTextR1).toFixed(1)}%` +
          (m.hardNegativeAccuracy !== undefined ? `, hard negatives ${(100 * m.hardNegativeAccuracy).toFixed(1)}%` : '') +
          (m.boxAccuracy !== undefined ? `, boxes ${(100 * m.boxAccuracy).toFixed(1)}%` : '') +
          (m.heatmapHit !== undefined ? `, heatmap peak in box ${(100 * m.heatmapHit).toFixed(1)}%` : ''),
      ),
    onNotice: say,
  };
  if (model) {
    const dir = await resolveModelDir(model, { env: io.env });
    if ((await familyOf(dir)).family.id === 'fgclip2') {
      // FG-CLIP 2: the stage-2 objective on --data = FineHARD records (+ --images), or JSONL of batches in the
      // reference collate's layout (families/fgclip2/train.ts; told apart by the first record's fields)
      if (stageS !== '2') throw new UsageError('train: FG-CLIP 2 checkpoints train on the stage-2 objective only (--stage 2)');
      const batchFile = isFgclip2BatchFile(data);
      if (batchFile && flag(values, 'bilingual'))
        throw new UsageError('train: --bilingual orders FineHARD records into batches of one language; --data is already a file of batches');
      const source = batchFile
        ? { batches: data }
        : {
            data,
            imagesDir: options.imagesDir,
            batchSize: options.batchSize,
            seed: options.seed,
            onBadRecord: options.onBadRecord,
            bilingual: flag(values, 'bilingual'),
            onSkip: (b: { where: string; reason: string }) => say(`skipped ${b.where}: ${b.reason}`),
          };
      const r = await trainFgclip2({
        model: dir,
        ...source,
        out,
        steps: options.steps,
        epochs: options.epochs,
        lr: options.lr,
        // the authors' 3% warmup unless given
        warmupSteps: str(values, 'warmup-steps') === undefined ? undefined : options.warmupSteps,
        schedule: options.schedule,
        weightDecay: options.weightDecay,
        maxGradNorm: options.maxGradNorm,
        saveEvery: options.saveEvery,
        resume: options.resume,
        threads,
        onStep: tty
          ? (s) =>
              io.stderr.write(
                `\r\x1b[Kstep ${s.step}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toExponential(2)}  θ ${s.nextThreshold.toFixed(3)}  ${s.seconds.toFixed(1)} s/step`,
              )
          : undefined,
      });
      if (tty) io.stderr.write('\n');
      const summary = { family: 'fgclip2', steps: r.steps, resumedFrom: r.resumedFrom ?? null, finalDir: r.finalDir, threshold: r.threshold };
      if (flag(values, 'json')) printJson(io, summary);
      else io.stdout.write(`trained ${r.steps} steps (FG-CLIP 2 stage 2); model in ${r.finalDir}\n`);
      return 0;
    }
  }
  if (flag(values, 'bilingual'))
    throw new UsageError('train: --bilingual is for FG-CLIP 2 checkpoints (Chinese and English records); FG-CLIP v1 trains on English captions');

  const trainer = new Trainer(options);
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) {
      io.stderr.write('\nfgclip train: aborted (the last checkpoint is intact)\n');
      process.exit(130);
    }
    say('stopping after this step and writing a checkpoint (Ctrl-C again to abort)');
    trainer.requestStop();
  };
  process.on('SIGINT', onSigint);
  try {
    const r = await trainer.run();
    if (tty) io.stderr.write('\n');
    if (flag(values, 'json')) printJson(io, r);
    else {
      io.stdout.write(
        `${r.interrupted ? 'stopped' : 'finished'} at step ${r.steps}${r.lastLoss !== undefined ? `, loss ${r.lastLoss.toFixed(4)}` : ''}\n` +
          `checkpoint: ${r.lastCheckpoint ?? '-'}${r.final ? `\nmodel: ${r.final}` : ''}\n` +
          (r.interrupted ? `resume with the same command\n` : ''),
      );
    }
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

const SYNTH_OPTIONS: Options = {
  out: { type: 'string', short: 'o' },
  train: { type: 'string' },
  heldout: { type: 'string' },
  seed: { type: 'string' },
  'image-size': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export async function syntheticCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('synthetic', argv, SYNTH_OPTIONS);
  if (positionals.length) throw new UsageError(`synthetic: unexpected arguments ${JSON.stringify(positionals)}`);
  const out = str(values, 'out');
  if (!out) throw new UsageError('synthetic: --out DIR is required');
  const files = await generateSyntheticDataset({
    out,
    train: int(values, 'train', 0) ?? 2000,
    heldOut: int(values, 'heldout', 0) ?? 200,
    seed: int(values, 'seed', 0),
    imageSize: int(values, 'image-size', 24),
  });
  if (flag(values, 'json')) printJson(io, files);
  else io.stdout.write(`train: ${files.train}\nheld out: ${files.heldOut}\n`);
  return 0;
}
