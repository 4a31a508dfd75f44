/**
 * Reproduces the demo model models/fgclip-synthetic/ (README "Training"): generates the synthetic fine-grained
 * dataset, trains a small FG-CLIP from scratch on CPU — stage 1 (global ITC, long + short captions), then stage 2
 * (adds region and hard-negative losses; by default in two runs, the second continuing the first with a fresh warmup
 * and cosine schedule and the region temperatures kept) — and evaluates on held-out scenes before and after:
 * image→text R@1, hard-negative accuracy, box classification accuracy, heatmap localisation.
 *
 *   node --import tsx scripts/train-synthetic.ts [--work DIR] [--train N] [--heldout N] [--stage1-epochs E]
 *        [--stage2-epochs E] [--stage2-extra-epochs E] [--batch B] [--lr X] [--threads T] [--out models/fgclip-synthetic]
 *        [--max-minutes M] [--resume]
 *
 * Writes <out>/ (an HF folder, F16 weights) and <out>/training-report.json.
 *
 * In pieces (e.g. under a machine-wide lock that no one may hold long): `--max-minutes M` stops the current training
 * run after M minutes with a resumable checkpoint and exits with status 75; `--resume` keeps the work folder (same
 * dataset, same options) and continues every run from its newest checkpoint, exactly (Trainer resume). Repeat until
 * it exits 0:  until flock LOCK node --import tsx scripts/train-synthetic.ts --resume --max-minutes 12; do :; done
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FgClip } from '../src/model/handle.js';
import { readRecords } from '../src/train/data/records.js';
import { defaultEngineFactory } from '../src/train/default-engine.js';
import { evaluateHeldOut, type HeldOutMetrics } from '../src/train/evaluate.js';
import { SYNTHETIC_MODEL_SPEC } from '../src/train/init.js';
import { objectName, COLORS, SHAPES } from '../src/train/synthetic/scenes.js';
import { generateSyntheticDataset } from '../src/train/synthetic/scenes.js';
import { Trainer, type StepRecord, type TrainerOptions } from '../src/train/trainer.js';
import type { RecordBox } from '../src/train/data/records.js';

const REPO = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    work: { type: 'string', default: join(REPO, '.cache', 'synthetic-run') },
    out: { type: 'string', default: join(REPO, 'models', 'fgclip-synthetic') },
    train: { type: 'string', default: '1000' },
    heldout: { type: 'string', default: '200' },
    'stage1-epochs': { type: 'string', default: '8' },
    'stage2-epochs': { type: 'string', default: '3' },
    'stage2-extra-epochs': { type: 'string', default: '5' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '1e-3' },
    threads: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    'max-minutes': { type: 'string' },
    resume: { type: 'boolean', default: false },
  },
});
/** exit status of a run stopped by --max-minutes (EX_TEMPFAIL: run again with --resume) */
const STOPPED = 75;
const work = resolve(values.work!);
const out = resolve(values.out!);
const tokenizerFrom = resolve(process.env.FGCLIP_GOLDENS ?? join(REPO, '..', 'shared', 'goldens'), 'fgclip-tiny');
const log = (m: string) => process.stderr.write(`[synthetic ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

/** "a small red circle at the top left" → "the red circle" (the heatmap query: colour and shape only). */
function heatmapQuery(b: RecordBox): string {
  const words = b.shortExpr.split(' ');
  const color = words.find((w) => w in COLORS)!;
  const shape = words.find((w) => (SHAPES as readonly string[]).includes(w))! as (typeof SHAPES)[number];
  return objectName({ color, shape });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const deadline = values['max-minutes'] === undefined ? Infinity : t0 + Number(values['max-minutes']) * 60_000;
  const datasetFile = join(work, 'dataset.json');
  const optionsKey = JSON.stringify({ ...values, resume: undefined, 'max-minutes': undefined, out: undefined });
  let data: { train: string; heldOut: string };
  if (values.resume && existsSync(datasetFile)) {
    const saved = JSON.parse(readFileSync(datasetFile, 'utf8')) as { options: string; data: { train: string; heldOut: string } };
    if (saved.options !== optionsKey) throw new Error(`--resume: ${work} was made with other options (${saved.options}); remove it or use the same options`);
    data = saved.data;
    log(`resuming in ${work}`);
  } else {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const d = await generateSyntheticDataset({
      out: join(work, 'data'),
      train: Number(values.train),
      heldOut: Number(values.heldout),
      seed: Number(values.seed),
    });
    data = { train: d.train, heldOut: d.heldOut };
    writeFileSync(datasetFile, JSON.stringify({ options: optionsKey, data }, null, 2));
  }
  log(`dataset: ${values.train} training and ${values.heldout} held-out scenes in ${join(work, 'data')}`);
  const heldOut = readRecords(data.heldOut).records;
  const engine = defaultEngineFactory({ threads: Number(values.threads) });
  const onStep = (s: StepRecord, eta: { done: number; total: number; secondsLeft: number }) => {
    if (eta.done % 10 === 0 || eta.done === eta.total)
      log(
        `step ${eta.done}/${eta.total} loss ${s.loss.toFixed(4)} (long ${s.parts.itc_long.toFixed(3)} short ${s.parts.itc_short.toFixed(3)} region ${s.parts.region.toFixed(3)} hard ${s.parts.hard_negative.toFixed(3)}) lr ${s.lr.toExponential(2)} ${s.samplesPerSecond.toFixed(1)} samples/s ETA ${eta.secondsLeft.toFixed(0)} s`,
      );
  };
  const common = {
    data: data.train,
    batchSize: Number(values.batch),
    lr: Number(values.lr),
    warmupSteps: 30,
    weightDecay: 0.001,
    seed: Number(values.seed),
    saveEvery: 100,
    workers: 1,
    engine,
    onStep,
    onNotice: log,
  };

  const evaluate = async (dir: string): Promise<HeldOutMetrics> => {
    const m = await FgClip.load(dir, { graphCache: false, preprocessWorkers: 0, threads: Number(values.threads) });
    try {
      return await evaluateHeldOut(m, heldOut, { heatmapQuery });
    } finally {
      m.dispose();
    }
  };
  // held-out metrics of each finished stage, kept in the work folder (so a run in pieces evaluates each model once,
  // and the figures of a stage are known as soon as it ends)
  const partialFile = join(work, 'held-out.json');
  const partial = (existsSync(partialFile) ? JSON.parse(readFileSync(partialFile, 'utf8')) : {}) as Record<string, HeldOutMetrics>;
  const evaluateOnce = async (key: string, dir: string): Promise<HeldOutMetrics> => {
    if (!partial[key]) {
      partial[key] = await evaluate(dir);
      writeFileSync(partialFile, JSON.stringify(partial, null, 2));
      log(`held-out ${key}: ${JSON.stringify(partial[key])}`);
    }
    return partial[key];
  };
  /** Runs a trainer until done or the deadline (then exits with STOPPED after its resumable checkpoint). */
  const run = async (options: TrainerOptions, what: string) => {
    const trainer = new Trainer({ ...options, resume: values.resume });
    const timer = setInterval(() => {
      if (performance.now() > deadline) trainer.requestStop();
    }, 1000);
    try {
      const r = await trainer.run();
      if (r.interrupted) {
        log(`${what}: stopped after --max-minutes at step ${r.steps} (checkpoint ${r.lastCheckpoint}); run again with --resume to continue`);
        process.exit(STOPPED);
      }
      // a run resumed at its last step trains no step: its last loss is in its log
      return { ...r, lastLoss: r.lastLoss ?? lastLoggedLoss(options.out) };
    } finally {
      clearInterval(timer);
    }
  };
  const s1 = await run(
    { ...common, init: { spec: SYNTHETIC_MODEL_SPEC, tokenizerFrom }, out: join(work, 'stage1'), stage: 1, epochs: Number(values['stage1-epochs']) },
    'stage 1',
  );
  log(`stage 1 done: ${s1.steps} steps, loss ${s1.lastLoss?.toFixed(4)}`);
  await evaluateOnce('afterStage1', s1.final!);
  const s2a = await run({ ...common, model: s1.final!, out: join(work, 'stage2'), stage: 2, epochs: Number(values['stage2-epochs']) }, 'stage 2');
  log(`stage 2 done: ${s2a.steps} steps, loss ${s2a.lastLoss?.toFixed(4)}`);
  await evaluateOnce('afterStage2First', s2a.final!);
  const extra = Number(values['stage2-extra-epochs']);
  const s2 =
    extra > 0
      ? await run(
          {
            ...common,
            model: s2a.final!,
            out: join(work, 'stage2b'),
            stage: 2,
            epochs: extra,
            warmupSteps: 10,
            seed: Number(values.seed) + 1,
            initRegionScales: false,
            finalDtype: 'F16',
          },
          'stage 2 (second run)',
        )
      : s2a;
  if (extra > 0) log(`stage 2 (second run) done: ${s2.steps} steps, loss ${s2.lastLoss?.toFixed(4)}`);
  // with --resume this is the last piece's time; each run's log has the steps' times
  const trainSeconds = (performance.now() - t0) / 1000;

  // "before": the random initialisation the run started from (stage 1's step-0 weights, re-created here)
  const initDir = join(work, 'init');
  await new Trainer({
    ...common,
    init: { spec: SYNTHETIC_MODEL_SPEC, tokenizerFrom },
    out: initDir,
    stage: 1,
    steps: 1,
    lr: 0,
    warmupSteps: 0,
    resume: false,
  }).run();
  const before = await evaluateOnce('before', join(initDir, 'final'));
  const afterStage1 = await evaluateOnce('afterStage1', s1.final!);
  const afterStage2First = await evaluateOnce('afterStage2First', s2a.final!);
  rmSync(out, { recursive: true, force: true });
  cpSync(s2.final!, out, { recursive: true });
  const after = await evaluate(out);
  const report = {
    command: `node --import tsx scripts/train-synthetic.ts ${process.argv.slice(2).join(' ')}`.trim(),
    options: values,
    spec: SYNTHETIC_MODEL_SPEC,
    steps: { stage1: s1.steps, stage2: s2a.steps, stage2Extra: extra > 0 ? s2.steps : 0 },
    finalLoss: { stage1: s1.lastLoss, stage2: s2a.lastLoss, stage2Extra: extra > 0 ? s2.lastLoss : undefined },
    trainSeconds,
    heldOut: { before, afterStage1, afterStage2First, after },
  };
  writeFileSync(join(out, 'training-report.json'), JSON.stringify(report, null, 2) + '\n');
  log(`report: ${JSON.stringify(report.heldOut)}`);
}

/** The loss of the last step in a run's train-log.jsonl. */
function lastLoggedLoss(out: string): number | undefined {
  const file = join(out, 'train-log.jsonl');
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const r = JSON.parse(lines[i]) as { loss?: number };
    if (typeof r.loss === 'number') return r.loss;
  }
  return undefined;
}

main().catch((e: unknown) => {
  process.stderr.write(`train-synthetic: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
