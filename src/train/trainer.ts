/**
 * `Trainer`: the training loop around a `GradientEngine` (types.ts), as the authors train (HF Trainer + their
 * CLIPTrainer): batches from the data loader, loss and gradients from the engine, global grad-norm clipping at 1.0,
 * AdamW (decay 0.001 except LayerNorm/bias), linear warmup then cosine decay, the two region temperatures set to
 * `logit_scale` when stage 2 starts; a JSONL log line per step, progress, periodic held-out evaluation, atomic
 * Hugging Face-layout checkpoints, exact resume (parameters, AdamW moments, step, data position; randomness is a
 * function of the seed and the position), and a stop request (Ctrl-C in the CLI) that ends after the current step
 * with a resumable checkpoint.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, loadPreprocessConfig } from '../config/index.js';
import { CLIP_IMAGE_PROCESSOR_DEFAULTS } from '../config/preprocessor.js';
import type { FgClipConfig, PreprocessConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import { resolveModelDir } from '../hub/index.js';
import { FgClip } from '../model/handle.js';
import { createPreprocessPool, type PreprocessPool } from '../pipeline/index.js';
import { ClipTokenizer } from '../tokenizer/index.js';
import { loadCheckpoint } from '../families/fgclip/checkpoint.js';
import {
  checkpointName,
  listCheckpoints,
  OPTIMIZER_FILE,
  pruneCheckpoints,
  readOptimizer,
  removeStaleTemp,
  TRAINER_STATE,
  writeCheckpointAtomic,
} from './checkpoint-writer.js';
import { BatchLoader, type BadRecordPolicy, type DataPosition } from './data/loader.js';
import { readRecords, type BadRecord, type TrainRecord } from './data/records.js';
import { epochOrder } from './data/rng.js';
import { evaluateHeldOut, type HeldOutMetrics } from './evaluate.js';
import { initParameters, smallConfig, type SmallModelSpec } from './init.js';
import { AdamW, ADAMW_DEFAULTS, clipGradNorm } from './optimizer.js';
import { checkSchedule, learningRate, type ScheduleKind } from './schedule.js';
import type { GradientEngine, LossParts, Stage } from './types.js';
import { nodeFolder } from '../platform/node/folder.js';

/** Builds the gradient engine for a model configuration (train's autodiff; tests may pass another). */
export type EngineFactory = (config: FgClipConfig, stage: Stage) => Promise<GradientEngine>;

export interface FreezeOptions {
  /** freeze a whole tower */
  readonly vision?: boolean;
  readonly text?: boolean;
  /** freeze the embeddings and the first N transformer layers of both towers */
  readonly firstLayers?: number;
  /** train only the three projections and the temperatures */
  readonly onlyProjections?: boolean;
}

export interface TrainerOptions {
  /** starting checkpoint: a folder or Hub id (FG-CLIP, or OpenAI-layout CLIP carried as from_openai does) */
  readonly model?: string;
  /** or a fresh random model of this shape (tokenizer files from `tokenizerFrom`) */
  readonly init?: { readonly spec: SmallModelSpec; readonly tokenizerFrom: string };
  /** training data: FineHARD JSON/JSONL (stage 2) or image–caption JSONL/CSV (stage 1) */
  readonly data: string;
  readonly imagesDir?: string;
  /** held-out records (same format), evaluated every `evalEvery` steps and at the end */
  readonly evalData?: string;
  readonly evalImagesDir?: string;
  /** output folder: checkpoint-<step>/, final/, train-log.jsonl */
  readonly out: string;
  readonly stage: Stage;
  /** default 8 */
  readonly batchSize?: number;
  /** total optimizer steps (default: `epochs` × steps per epoch) */
  readonly steps?: number;
  /** default 1 */
  readonly epochs?: number;
  /** peak learning rate (default 1e-6, the authors' stage-2 script) */
  readonly lr?: number;
  /** default 200 (the authors' script), capped at the run's length */
  readonly warmupSteps?: number;
  readonly schedule?: ScheduleKind;
  /** default 0.001 */
  readonly weightDecay?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  /** global gradient-norm clip (default 1.0; Infinity disables) */
  readonly maxGradNorm?: number;
  /** text-tower learning-rate multiplier (reference `text_model_lr` / lr; default 1) */
  readonly textLrScale?: number;
  /** default 0.1 and 0.5 */
  readonly regionWeight?: number;
  readonly hardNegativeWeight?: number;
  /** images per forward/backward chunk (the two-pass scheme); default: the whole batch */
  readonly chunkSize?: number;
  /** set `logit_scale_finegraind` and `logit_scale_hardneg` to `logit_scale` when stage 2 starts (default true) */
  readonly initRegionScales?: boolean;
  readonly freeze?: FreezeOptions;
  /** default 42 */
  readonly seed?: number;
  /** checkpoint every N steps (default 500) and at the end */
  readonly saveEvery?: number;
  /** checkpoints kept (default 2) */
  readonly keepCheckpoints?: number;
  /** evaluate every N steps (default: only at the end) */
  readonly evalEvery?: number;
  /** continue from the newest checkpoint in `out` (default true when there is one) */
  readonly resume?: boolean;
  readonly onBadRecord?: BadRecordPolicy;
  /** preprocessing worker threads (default 2) */
  readonly workers?: number;
  /** weights dtype of final/ (default F32) */
  readonly finalDtype?: 'F32' | 'F16';
  readonly engine: EngineFactory;
  /** progress after each step, bad records, notices */
  readonly onStep?: (s: StepRecord, eta: { done: number; total: number; secondsLeft: number }) => void;
  readonly onBadRecordSkipped?: (b: BadRecord) => void;
  readonly onEval?: (step: number, m: HeldOutMetrics) => void;
  readonly onNotice?: (message: string) => void;
  /** test hook: called after each step (e.g. to stop or crash at a chosen point) */
  readonly afterStep?: (step: number) => void;
}

export interface StepRecord {
  readonly type: 'step';
  readonly step: number;
  readonly epoch: number;
  readonly loss: number;
  readonly parts: LossParts;
  readonly lr: number;
  readonly gradNorm: number;
  readonly samples: number;
  readonly samplesPerSecond: number;
  readonly seconds: number;
}

export interface TrainResult {
  readonly steps: number;
  readonly interrupted: boolean;
  readonly lastCheckpoint?: string;
  readonly final?: string;
  readonly resumedFrom?: string;
  readonly lastLoss?: number;
  readonly evals: { step: number; metrics: HeldOutMetrics }[];
}

interface SavedState {
  readonly version: 1;
  readonly step: number;
  readonly position: DataPosition;
  readonly seed: number;
  readonly stage: Stage;
  readonly totalSteps: number;
  readonly warmupSteps: number;
  readonly lr: number;
  readonly schedule: ScheduleKind;
  readonly batchSize: number;
  readonly samplesSeen: number;
}

/** Frozen parameter names for the freeze options. */
export function frozenSet(names: Iterable<string>, f: FreezeOptions = {}): Set<string> {
  const out = new Set<string>();
  const n = f.firstLayers ?? 0;
  if (!Number.isInteger(n) || n < 0) throw new FgClipError('INPUT_INVALID', `freeze: first layers must be an integer ≥ 0 (got ${n})`);
  for (const name of names) {
    const layer = /\.encoder\.layers\.(\d+)\./.exec(name);
    const isProj =
      name === 'visual_projection.weight' || name === 'text_projection.weight' || name === 'text_filip_projection.weight' || name.startsWith('logit_scale');
    if (f.onlyProjections && !isProj) out.add(name);
    if (f.vision && name.startsWith('vision_model.')) out.add(name);
    if (f.text && name.startsWith('text_model.')) out.add(name);
    if (n > 0 && (name.includes('.embeddings.') || name.includes('pre_layrnorm') || (layer && Number(layer[1]) < n))) out.add(name);
  }
  return out;
}

const DEFAULT_PREPROCESS = (S: number): PreprocessConfig => ({
  shortest_edge: S,
  crop_height: S,
  crop_width: S,
  do_resize: true,
  do_center_crop: true,
  do_rescale: true,
  rescale_factor: CLIP_IMAGE_PROCESSOR_DEFAULTS.rescale_factor,
  do_normalize: true,
  image_mean: CLIP_IMAGE_PROCESSOR_DEFAULTS.image_mean,
  image_std: CLIP_IMAGE_PROCESSOR_DEFAULTS.image_std,
  resample: 3,
});

function fail(what: string): never {
  throw new FgClipError('INPUT_INVALID', `train: ${what}`);
}

export class Trainer {
  private stopRequested = false;
  constructor(readonly options: TrainerOptions) {}

  /** Ends the run after the current step, with a resumable checkpoint (Ctrl-C in the CLI). */
  requestStop(): void {
    this.stopRequested = true;
  }

  async run(): Promise<TrainResult> {
    const o = this.options;
    const seed = o.seed ?? 42;
    const batchSize = o.batchSize ?? 8;
    if (o.stage !== 1 && o.stage !== 2) fail(`stage must be 1 or 2 (got ${String(o.stage)})`);
    if (!Number.isInteger(batchSize) || batchSize < 2) fail(`batch size must be an integer ≥ 2 (contrastive losses need negatives; got ${batchSize})`);
    if (!!o.model === !!o.init) fail('give exactly one of a starting model or a fresh-init spec');
    const saveEvery = o.saveEvery ?? 500;
    if (!Number.isInteger(saveEvery) || saveEvery < 1) fail(`saveEvery must be a positive integer (got ${saveEvery})`);
    if (o.steps !== undefined && o.epochs !== undefined) fail(`give steps or epochs, not both (got steps ${o.steps}, epochs ${o.epochs})`);
    if (!o.evalData && (o.evalEvery !== undefined || o.evalImagesDir !== undefined))
      fail('evalEvery / evalImagesDir need evalData (the held-out records to evaluate)');
    if (existsSync(o.out) && !statSync(o.out).isDirectory()) fail(`out: ${o.out} exists and is not a folder`);
    mkdirSync(o.out, { recursive: true });
    const stale = removeStaleTemp(o.out);
    if (stale.length) o.onNotice?.(`removed ${stale.length} unfinished checkpoint folder(s) left by an interrupted run`);

    // --- model, tokenizer, preprocessing
    const resumeFrom = o.resume === false ? undefined : listCheckpoints(o.out)[0];
    let config: FgClipConfig;
    let preprocess: PreprocessConfig;
    let tokenizerDir: string;
    let params: Map<string, Float32Array>;
    let enteringStage2 = false;
    if (resumeFrom) {
      tokenizerDir = resumeFrom.path;
      config = await loadConfig(resumeFrom.path);
      preprocess = await loadPreprocessConfig(resumeFrom.path, config, () => undefined);
      params = toParams((await loadCheckpoint(resumeFrom.path, config)).tensors);
    } else if (o.init) {
      tokenizerDir = o.init.tokenizerFrom;
      config = smallConfig(o.init.spec);
      preprocess = DEFAULT_PREPROCESS(config.vision_config.image_size);
      params = toParams(initParameters(config, seed));
    } else {
      tokenizerDir = await resolveModelDir(o.model!);
      config = await loadConfig(tokenizerDir);
      preprocess = await loadPreprocessConfig(tokenizerDir, config, () => undefined);
      const ck = await loadCheckpoint(tokenizerDir, config);
      if (ck.carried.length) o.onNotice?.(`${tokenizerDir}: OpenAI-layout CLIP carried into the FG-CLIP layout (${ck.carried.join(', ')})`);
      params = toParams(ck.tensors);
      enteringStage2 = o.stage === 2;
    }
    if (enteringStage2 && (o.initRegionScales ?? true)) {
      // train_fgclip.py: logit_scale_finegraind / _hardneg = Parameter(ones([]) * logit_scale)
      const s = params.get('logit_scale')![0];
      params.get('logit_scale_finegraind')![0] = s;
      params.get('logit_scale_hardneg')![0] = s;
    }
    const tokenizer = await ClipTokenizer.fromFolder(nodeFolder(tokenizerDir));
    const S = config.vision_config.image_size;
    const layers = Math.max(config.vision_config.num_hidden_layers, config.text_config.num_hidden_layers);
    if ((o.freeze?.firstLayers ?? 0) > layers) {
      fail(
        `freeze: first ${o.freeze!.firstLayers} layers, but the model has ${config.vision_config.num_hidden_layers} vision and ${config.text_config.num_hidden_layers} text layers (freeze a whole tower with freeze.vision / freeze.text)`,
      );
    }

    // --- data
    const parsed = readRecords(o.data, { imagesDir: o.imagesDir, requireBoxes: o.stage === 2 });
    this.reportBad(parsed.bad, o.data);
    if (parsed.records.length === 0) {
      fail(
        `${o.data}: no usable records${o.stage === 2 ? ' for stage 2, which needs FineHARD records (f_path, caption, short_caption, bbox_info); image-caption pairs (JSONL/CSV) train with stage 1 (--stage 1)' : ''}`,
      );
    }
    if (o.stage === 1 && parsed.records.length === 1) fail(`${o.data}: 1 usable record; stage 1 needs at least 2 (a contrastive loss over one image is 0)`);
    if (parsed.ignoredBoxes) o.onNotice?.(`${o.data}: ${parsed.ignoredBoxes} box(es) beyond the first 4 of their image ignored (as the reference does)`);
    let evalRecords: TrainRecord[] = [];
    if (o.evalData) {
      const ev = readRecords(o.evalData, { imagesDir: o.evalImagesDir });
      this.reportBad(ev.bad, o.evalData);
      evalRecords = ev.records;
    }
    const pool: PreprocessPool = await createPreprocessPool({
      size: S,
      mean: preprocess.image_mean,
      std: preprocess.image_std,
      rescaleFactor: preprocess.rescale_factor,
      threads: o.workers ?? 2,
    });
    const loader = new BatchLoader({
      records: parsed.records,
      stage: o.stage,
      batchSize,
      seed,
      tokenizer,
      pool,
      imageSize: S,
      onBadRecord: o.onBadRecord,
      onSkip: o.onBadRecordSkipped,
    });

    // --- schedule and optimizer
    let saved: SavedState | undefined;
    if (resumeFrom) saved = JSON.parse(readFileSync(join(resumeFrom.path, TRAINER_STATE), 'utf8')) as SavedState;
    const totalSteps = saved?.totalSteps ?? o.steps ?? (o.epochs ?? 1) * loader.stepsPerEpoch;
    const warmupSteps = saved?.warmupSteps ?? Math.min(o.warmupSteps ?? 200, Math.max(0, totalSteps - 1));
    const lr = saved?.lr ?? o.lr ?? 1e-6;
    const schedule = { lr, totalSteps, warmupSteps, kind: saved?.schedule ?? o.schedule ?? 'cosine' };
    checkSchedule(schedule);
    if (saved && (saved.stage !== o.stage || saved.seed !== seed || saved.batchSize !== batchSize)) {
      o.onNotice?.(`resuming ${resumeFrom!.path}: using its stage ${saved.stage}, seed ${saved.seed}, batch ${saved.batchSize}`);
    }
    const optimizer = new AdamW({ weightDecay: o.weightDecay ?? ADAMW_DEFAULTS.weightDecay, betas: o.betas, eps: o.eps, textModelLrScale: o.textLrScale });
    if (resumeFrom && existsSync(join(resumeFrom.path, OPTIMIZER_FILE))) optimizer.load(await readOptimizer(join(resumeFrom.path, OPTIMIZER_FILE)));
    const stage = saved?.stage ?? o.stage;
    const runSeed = saved?.seed ?? seed;

    let step = saved?.step ?? 0;
    let position: DataPosition = saved?.position ?? { epoch: 0, index: 0 };
    let samplesSeen = saved?.samplesSeen ?? 0;
    const logFile = join(o.out, 'train-log.jsonl');
    truncateLog(logFile, step);

    const engine = await o.engine(config, stage);
    const trainable = [...engine.parameters.keys()];
    for (const n of trainable) if (!params.has(n)) fail(`the gradient engine wants parameter ${n}, which the checkpoint lacks`);
    const frozen = frozenSet(trainable, o.freeze);
    if (frozen.size === trainable.length) fail('every parameter is frozen; nothing to train');

    const evals: { step: number; metrics: HeldOutMetrics }[] = [];
    const state = (): SavedState => ({
      version: 1,
      step,
      position,
      seed: runSeed,
      stage,
      totalSteps,
      warmupSteps,
      lr,
      schedule: schedule.kind,
      batchSize,
      samplesSeen,
    });
    let lastCheckpoint: string | undefined;
    const save = () => {
      const target = join(o.out, checkpointName(step));
      writeCheckpointAtomic(target, { config, preprocess, params, tokenizerDir }, { optimizer: optimizer.state(), state: { ...state() } });
      pruneCheckpoints(o.out, o.keepCheckpoints ?? 2);
      lastCheckpoint = target;
    };
    const evaluate = async () => {
      if (evalRecords.length === 0) return;
      const dir = join(o.out, 'eval-model');
      writeCheckpointAtomic(dir, { config, preprocess, params, tokenizerDir });
      const model = await FgClip.load(dir, { graphCache: false, preprocessWorkers: 0 });
      try {
        const metrics = await evaluateHeldOut(model, evalRecords);
        evals.push({ step, metrics });
        appendFileSync(logFile, JSON.stringify({ type: 'eval', step, ...metrics }) + '\n');
        o.onEval?.(step, metrics);
      } finally {
        model.dispose();
      }
    };

    let lastLoss: number | undefined;
    let interrupted = false;
    const t0 = performance.now();
    const startStep = step;
    // the previous step's gradient buffers, written over by the next step (no fresh 4·P bytes per step)
    let gradBuffers: Map<string, Float32Array> | undefined;
    try {
      if (step === 0 && o.evalEvery) await evaluate();
      const batches = loader.batches(position);
      while (step < totalSteps) {
        if (this.stopRequested) {
          interrupted = true;
          break;
        }
        const tStep = performance.now();
        const { value: loaded } = await batches.next();
        if (!loaded) break;
        const result = await engine.compute(params, loaded.batch, {
          stage,
          chunkSize: o.chunkSize,
          frozen,
          regionWeight: o.regionWeight,
          hardNegativeWeight: o.hardNegativeWeight,
          into: gradBuffers,
        });
        if (!Number.isFinite(result.loss)) {
          throw new FgClipError(
            'RUNTIME',
            `train: the loss is not finite at step ${step + 1} (${result.loss}; records ${loaded.records.join(', ')}). Lower the learning rate; the last checkpoint is ${lastCheckpoint ?? 'none'}.`,
          );
        }
        const grads = new Map<string, Float32Array>();
        for (const [k, g] of result.grads) if (!frozen.has(k)) grads.set(k, g);
        const gradNorm = clipGradNorm(grads, o.maxGradNorm ?? 1.0);
        const rate = learningRate(step, schedule);
        optimizer.update(params, grads, rate);
        gradBuffers = grads;
        step++;
        position = loaded.next;
        samplesSeen += loaded.batch.size;
        lastLoss = result.loss;
        const seconds = (performance.now() - tStep) / 1000;
        const rec: StepRecord = {
          type: 'step',
          step,
          epoch: loaded.epoch,
          loss: result.loss,
          parts: result.parts,
          lr: rate,
          gradNorm,
          samples: loaded.batch.size,
          samplesPerSecond: loaded.batch.size / seconds,
          seconds,
        };
        appendFileSync(logFile, JSON.stringify(rec) + '\n');
        const elapsed = (performance.now() - t0) / 1000;
        o.onStep?.(rec, { done: step, total: totalSteps, secondsLeft: (elapsed / (step - startStep)) * (totalSteps - step) });
        if (step % saveEvery === 0 && step < totalSteps) save();
        if (o.evalEvery && step % o.evalEvery === 0 && step < totalSteps) await evaluate();
        o.afterStep?.(step);
      }
      await batches.return();
      if (step > startStep || !lastCheckpoint) save();
      let final: string | undefined;
      if (!interrupted && step >= totalSteps) {
        final = join(o.out, 'final');
        writeCheckpointAtomic(final, { config, preprocess, params, tokenizerDir, dtype: o.finalDtype });
        await evaluate();
      }
      return { steps: step, interrupted, lastCheckpoint, final, resumedFrom: resumeFrom?.path, lastLoss, evals };
    } finally {
      await engine.dispose();
      // idle pool workers are unref'd: keep the loop alive until they have exited, or this await never resumes
      const keepAlive = setInterval(() => undefined, 1000);
      try {
        await pool.close();
      } finally {
        clearInterval(keepAlive);
      }
    }
  }

  private reportBad(bad: readonly BadRecord[], file: string): void {
    if (bad.length === 0) return;
    if ((this.options.onBadRecord ?? 'skip') === 'fail') {
      throw new FgClipError(
        'INPUT_INVALID',
        `${bad[0].where}: bad record: ${bad[0].reason}${bad.length > 1 ? ` (and ${bad.length - 1} more in ${file})` : ''} (use --on-bad-record skip to skip such records)`,
      );
    }
    for (const b of bad) this.options.onBadRecordSkipped?.(b);
  }
}

function toParams(t: ReadonlyMap<string, { data: Float32Array }>): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const [k, v] of t) m.set(k, v.data);
  return m;
}

/** Keeps the log lines of steps ≤ `step` (a resumed run rewrites the steps after its checkpoint). */
function truncateLog(file: string, step: number): void {
  if (!existsSync(file)) return;
  const keep = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false; // a torn last line from a kill
      }
    });
  writeFileSync(file, keep.length ? keep.join('\n') + '\n' : '');
}

/** For callers that split data: the records of `file` not in the held-out share, and the held-out ones (seeded). */
export function splitHeldOut<T>(items: readonly T[], fraction: number, seed: number): { train: T[]; heldOut: T[] } {
  if (!(fraction > 0 && fraction < 1)) fail(`held-out fraction must be in (0, 1) (got ${fraction})`);
  const order = epochOrder(items.length, seed, 0xe7a1);
  const k = Math.max(1, Math.round(items.length * fraction));
  const held = new Set(Array.from(order.subarray(0, k)));
  return { train: items.filter((_, i) => !held.has(i)), heldOut: items.filter((_, i) => held.has(i)) };
}
