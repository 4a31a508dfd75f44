/**
 * Training an FG-CLIP 2 checkpoint on the stage-2 objective (train-engine.ts), as the authors' stage-2 script does
 * (V2/scripts/train/stage2_fgclip2.sh): AdamW β (0.9, 0.98), ε 1e-6, weight decay 0.001 on every parameter but
 * LayerNorm weights and biases, warmup then cosine decay, global gradient-norm clipping at 1.0, and the CMR threshold
 * θ carried from step to step (clamped to [0, 10]). The optimizer, schedule and clipping are the v1 trainer's
 * (src/train/optimizer.ts, schedule.ts).
 *
 * Data, one of:
 * - `data`: FineHARD records (a JSON list or JSONL of {f_path, caption, short_caption, bbox_info}, Chinese pairs with
 *   `is_cn`) and their images, read by v1's record reader and batched as the authors' dataset and collator do
 *   (data.ts: NaFlex per image at the batch's patch budget, 64/196 tokens, box and hard-negative texts); a seeded
 *   order per epoch, and the position in the data is part of each checkpoint (resume continues exactly);
 * - `batches`: a JSONL file, one batch per line in the reference collate's layout (the `inputs` of goldens-v2
 *   fgclip2-*.loss.json: NaFlex `pixel_values`, masks and spatial shapes, token ids, boxes); lines are taken in
 *   order, epoch after epoch. A bad line fails the run with its line number (INPUT_INVALID).
 *
 * Output folder: `checkpoint-<step>/` (every `saveEvery` steps and at the end: the model files plus
 * optimizer.safetensors and trainer_state.json with the step and θ), `final/` (the model), `train-log.jsonl` (one line
 * per step). Model folders are the starting checkpoint's config, preprocessor and tokenizer files plus
 * model.safetensors with every tensor under its reference name (the two region scales included), so `FgClip.load`
 * and the authors' code read them. Writes are atomic (temporary folder, fsync, rename): a kill -9 leaves the previous
 * checkpoint intact; `resume` (default) continues from the newest checkpoint exactly.
 */
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { FgClipError } from '../../errors.js';
import {
  checkpointName,
  encodeOptimizer,
  listCheckpoints,
  OPTIMIZER_FILE,
  pruneCheckpoints,
  readOptimizer,
  removeStaleTemp,
  TRAINER_STATE,
  writeFolderAtomic,
} from '../../train/checkpoint-writer.js';
import { AdamW, clipGradNorm } from '../../train/optimizer.js';
import { checkSchedule, learningRate, type ScheduleKind } from '../../train/schedule.js';
import { encodeSafetensors, rawF32, readSafetensors } from '../../weights/index.js';
import { nodeFolder } from '../../platform/node/folder.js';
import { SentencePieceBpeTokenizer } from '../../tokenizer/sp-bpe-tokenizer.js';
import { readRecords, type BadRecord } from '../../train/data/records.js';
import { parseFgclip2Config, parseFgclip2Preprocess } from './config.js';
import { Fgclip2BatchLoader, type Fgclip2DataPosition } from './data.js';
import { fgclip2BatchFromReferenceJson, type Fgclip2LossBatch } from './loss.js';
import { createFgclip2GradientEngine, V2_THRESHOLD_INIT } from './train-engine.js';
import type { V2LossPart } from './train-graph.js';

/** The authors' stage-2 settings (stage2_fgclip2.sh; fgclip-spec §7.4). */
export const FGCLIP2_TRAIN_DEFAULTS = { lr: 1e-6, betas: [0.9, 0.98] as const, eps: 1e-6, weightDecay: 0.001, warmupRatio: 0.03, maxGradNorm: 1 } as const;

const MODEL_FILES = ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model'];

export interface Fgclip2TrainOptions {
  /** starting checkpoint folder (FG-CLIP 2) */
  readonly model: string;
  /** JSONL, one reference-layout batch per line (or give `data`) */
  readonly batches?: string;
  /** FineHARD records: a JSON list or JSONL file (or give `batches`) */
  readonly data?: string;
  /** folder the records' image paths are relative to (default: the data file's folder) */
  readonly imagesDir?: string;
  /** folder of the `is_cn` records' images (the script's --cn_image_root; default imagesDir) */
  readonly cnImagesDir?: string;
  /** a prefix removed from f_path (the reference strips "grit-20m/data-12m/") */
  readonly stripPrefix?: string;
  /** records per batch with `data` (default 8) */
  readonly batchSize?: number;
  /** order and box-text coins with `data` (default 0) */
  readonly seed?: number;
  /** shuffle the records each epoch (default true) */
  readonly shuffle?: boolean;
  /** every batch of one language, as the authors' BilingualSampler (`--cn_and_en_2_train`; default false) */
  readonly bilingual?: boolean;
  /** a record whose image cannot be read: end the run (default) or skip it */
  readonly onBadRecord?: 'skip' | 'fail';
  readonly onSkip?: (bad: BadRecord) => void;
  readonly out: string;
  /** default 1 */
  readonly epochs?: number;
  /** total optimizer steps (default: epochs × lines) */
  readonly steps?: number;
  /** peak learning rate (default 1e-6) */
  readonly lr?: number;
  /** default: 3% of the steps (the script's warmup_ratio 0.03), rounded up */
  readonly warmupSteps?: number;
  readonly schedule?: ScheduleKind;
  readonly weightDecay?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  /** default 1.0; Infinity disables */
  readonly maxGradNorm?: number;
  /** parameters that are not trained */
  readonly frozen?: ReadonlySet<string>;
  /** checkpoint every N steps (default: only at the end) */
  readonly saveEvery?: number;
  /** continue from the newest checkpoint in `out` (default true) */
  readonly resume?: boolean;
  readonly threads?: number;
  readonly onStep?: (s: Fgclip2StepRecord) => void;
  /** test hook: after each step */
  readonly afterStep?: (step: number) => void;
}

export interface Fgclip2StepRecord {
  readonly type: 'step';
  readonly step: number;
  /** `batches`: the line of the batch; `data`: the batch's number within its epoch (1-based) */
  readonly line: number;
  /** `data`: the epoch (0-based) and the records of the batch (file:line) */
  readonly epoch?: number;
  readonly records?: readonly string[];
  readonly loss: number;
  readonly parts: Record<V2LossPart, number>;
  readonly lr: number;
  readonly gradNorm: number;
  /** θ used by this step and the θ for the next */
  readonly threshold: number;
  readonly nextThreshold: number;
  readonly seconds: number;
}

export interface Fgclip2TrainResult {
  readonly steps: number;
  readonly resumedFrom?: number;
  readonly finalDir: string;
  readonly threshold: number;
  readonly params: ReadonlyMap<string, Float32Array>;
}

interface TrainerState {
  readonly step: number;
  readonly threshold: number;
  readonly source: string;
  /** `data`: where the next batch starts */
  readonly data?: Fgclip2DataPosition;
}

function readLines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `${path}: cannot read the batches file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new FgClipError('INPUT_INVALID', `${path}: no batches (expected one JSON batch per line)`);
  return lines;
}

/**
 * Is `path` a file of reference-layout batches (its first record has `pixel_values` or `inputs`)? Anything else —
 * FineHARD records, an unreadable file — is not (the FineHARD reader then reports it).
 */
export function isFgclip2BatchFile(path: string): boolean {
  let head: string;
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(1 << 16);
      head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
  const m = /^\s*[[]?\s*\{\s*"([^"]+)"/.exec(head);
  if (m === null) return false;
  if (m[1] === 'pixel_values' || m[1] === 'inputs') return true;
  // the first key is not decisive: a batch line names pixel_values somewhere before any FineHARD field
  const firstLine = head.split('\n', 1)[0];
  return /"pixel_values"\s*:/.test(firstLine) && !/"f_path"\s*:/.test(firstLine);
}

function parseLine(path: string, lines: readonly string[], i: number): Fgclip2LossBatch {
  try {
    return fgclip2BatchFromReferenceJson(JSON.parse(lines[i])).batch;
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `${path}:${i + 1}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** The model folder (the starting checkpoint's config/tokenizer files plus `files`) at `target`, atomically. */
function writeModelFolder(target: string, files: readonly (readonly [string, Uint8Array | string])[], from: string): void {
  writeFolderAtomic(target, (put) => {
    for (const f of MODEL_FILES) if (existsSync(join(from, f))) put(f, readFileSync(join(from, f)));
    for (const [name, data] of files) put(name, data);
  });
}

/** The FineHARD loader of `o.data` for the checkpoint at `model` (its tokenizer, preprocessor and text lengths). */
async function dataLoader(o: Fgclip2TrainOptions, data: string): Promise<Fgclip2BatchLoader> {
  const parsed = readRecords(data, { imagesDir: o.imagesDir, cnImagesDir: o.cnImagesDir, stripPrefix: o.stripPrefix });
  if (parsed.bad.length > 0) {
    if ((o.onBadRecord ?? 'fail') === 'fail')
      throw new FgClipError(
        'INPUT_INVALID',
        `${data}: ${parsed.bad.length} bad record(s): ${parsed.bad
          .slice(0, 3)
          .map((b) => `${b.where}: ${b.reason}`)
          .join('; ')}${parsed.bad.length > 3 ? '; …' : ''}`,
      );
    for (const b of parsed.bad) o.onSkip?.(b);
  }
  const json = (name: string, required: boolean): Record<string, unknown> | undefined => {
    const path = join(o.model, name);
    if (!required && !existsSync(path)) return undefined;
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new FgClipError('CONFIG_INVALID', `${path}: cannot be read as JSON (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
  };
  const config = parseFgclip2Config(json('config.json', true), join(o.model, 'config.json'));
  const preprocess = parseFgclip2Preprocess(
    json('preprocessor_config.json', false),
    join(o.model, 'preprocessor_config.json'),
    config.vision_config.patch_size,
  );
  const tokenizer = await SentencePieceBpeTokenizer.fromFolder(nodeFolder(o.model));
  return new Fgclip2BatchLoader({
    records: parsed.records,
    batchSize: o.batchSize ?? 8,
    seed: o.seed ?? 0,
    shuffle: o.shuffle,
    bilingual: o.bilingual,
    tokenizer,
    preprocess,
    shortLength: config.text_config.max_position_embeddings,
    longLength: config.text_config.longtext_len,
    onBadRecord: o.onBadRecord,
    onSkip: o.onSkip,
  });
}

/** Trains an FG-CLIP 2 checkpoint on FineHARD records or reference-layout batches; see the module comment. */
export async function trainFgclip2(o: Fgclip2TrainOptions): Promise<Fgclip2TrainResult> {
  if ((o.batches === undefined) === (o.data === undefined))
    throw new FgClipError('INPUT_INVALID', 'trainFgclip2: give exactly one of data (FineHARD records) and batches (reference-layout JSONL)');
  const lines = o.batches !== undefined ? readLines(o.batches) : undefined;
  const loader = o.data !== undefined ? await dataLoader(o, o.data) : undefined;
  const epochs = o.epochs ?? 1;
  if (!Number.isInteger(epochs) || epochs < 1) throw new FgClipError('INPUT_INVALID', `epochs must be a positive integer (got ${epochs})`);
  const total = o.steps ?? epochs * (lines?.length ?? (loader as Fgclip2BatchLoader).stepsPerEpoch);
  const warmupSteps = o.warmupSteps ?? Math.ceil(FGCLIP2_TRAIN_DEFAULTS.warmupRatio * total);
  const sched = { lr: o.lr ?? FGCLIP2_TRAIN_DEFAULTS.lr, totalSteps: total, warmupSteps, kind: o.schedule };
  checkSchedule(sched);
  const maxNorm = o.maxGradNorm ?? FGCLIP2_TRAIN_DEFAULTS.maxGradNorm;
  if (!(maxNorm > 0)) throw new FgClipError('INPUT_INVALID', `maxGradNorm must be > 0 (got ${maxNorm})`);
  const saveEvery = o.saveEvery ?? total;
  if (!Number.isInteger(saveEvery) || saveEvery < 1) throw new FgClipError('INPUT_INVALID', `saveEvery must be a positive integer (got ${saveEvery})`);
  mkdirSync(o.out, { recursive: true });
  removeStaleTemp(o.out);

  const latest = (o.resume ?? true) ? listCheckpoints(o.out)[0] : undefined;
  const engine = await createFgclip2GradientEngine(latest?.path ?? o.model, { threads: o.threads });
  try {
    for (const f of o.frozen ?? []) if (!engine.parameters.has(f)) throw new FgClipError('INPUT_INVALID', `frozen: ${f} is not a parameter of this model`);
    const params = new Map<string, Float32Array>();
    for (const [k, v] of engine.initialParams) params.set(k, Float32Array.from(v));
    // tensors that are not parameters (dense_feature_head.probe: no code path reads it) are carried unchanged
    const others = await readSafetensors(join(o.model, 'model.safetensors'), { only: (n) => !engine.parameters.has(n) && n !== 'thresholds' });
    const opt = new AdamW({
      betas: o.betas ?? FGCLIP2_TRAIN_DEFAULTS.betas,
      eps: o.eps ?? FGCLIP2_TRAIN_DEFAULTS.eps,
      weightDecay: o.weightDecay ?? FGCLIP2_TRAIN_DEFAULTS.weightDecay,
    });
    let step = 0;
    let threshold = V2_THRESHOLD_INIT;
    let position: Fgclip2DataPosition = { epoch: 0, index: 0 };
    if (latest) {
      const state = JSON.parse(readFileSync(join(latest.path, TRAINER_STATE), 'utf8')) as TrainerState;
      if (loader && state.data === undefined)
        throw new FgClipError(
          'INPUT_INVALID',
          `${latest.path}: this checkpoint was trained on reference-layout batches; resume it with batches, or start a new output folder for data`,
        );
      opt.load(await readOptimizer(join(latest.path, OPTIMIZER_FILE)));
      step = state.step;
      threshold = state.threshold;
      position = state.data ?? position;
    }
    const resumedFrom = latest ? step : undefined;
    const modelFile = () => {
      const names = [...params.keys(), ...others.keys()].sort();
      return encodeSafetensors(
        names.map((n) => {
          const p = params.get(n);
          return [n, p ? rawF32({ shape: engine.parameters.get(n) as number[], data: p, storedDtype: 'F32' }) : rawF32(others.get(n)!)] as const;
        }),
        { format: 'pt' },
      );
    };
    const save = (s: number) => {
      const state: TrainerState = { step: s, threshold, source: o.model, ...(loader ? { data: position } : {}) };
      writeModelFolder(
        join(o.out, checkpointName(s)),
        [
          ['model.safetensors', modelFile()],
          [OPTIMIZER_FILE, encodeOptimizer(opt.state())],
          [TRAINER_STATE, `${JSON.stringify(state, null, 2)}\n`],
        ],
        o.model,
      );
      pruneCheckpoints(o.out, 2);
    };
    const log = join(o.out, 'train-log.jsonl');
    while (step < total) {
      const t0 = performance.now();
      let line: number;
      let batch: Fgclip2LossBatch;
      let from: { epoch: number; records: readonly string[] } | undefined;
      if (loader) {
        const b = await loader.load(position);
        batch = b.batch;
        line = Math.ceil(b.next.index / loader.options.batchSize) - 1;
        from = { epoch: b.epoch, records: b.records };
        position = b.next;
      } else {
        line = step % (lines as string[]).length;
        batch = parseLine(o.batches as string, lines as string[], line);
      }
      const r = await engine.compute(params, batch, { threshold, frozen: o.frozen });
      const grads = r.grads as Map<string, Float32Array>;
      const gradNorm = clipGradNorm(grads, maxNorm);
      const lr = learningRate(step, sched);
      opt.update(params, grads, lr);
      const rec: Fgclip2StepRecord = {
        type: 'step',
        step: step + 1,
        line: line + 1,
        ...from,
        loss: r.loss,
        parts: r.parts,
        lr,
        gradNorm,
        threshold,
        nextThreshold: r.thresholdOut,
        seconds: (performance.now() - t0) / 1000,
      };
      threshold = r.thresholdOut;
      step++;
      appendFileSync(log, `${JSON.stringify(rec)}\n`);
      o.onStep?.(rec);
      if (step % saveEvery === 0 || step === total) save(step);
      o.afterStep?.(step);
    }
    const finalDir = join(o.out, 'final');
    writeModelFolder(finalDir, [['model.safetensors', modelFile()]], o.model);
    return { steps: step, resumedFrom, finalDir, threshold, params };
  } finally {
    await engine.dispose();
  }
}
