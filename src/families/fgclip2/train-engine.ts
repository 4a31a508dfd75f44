/**
 * The FG-CLIP 2 gradient engine: the stage-2 loss of train-graph.ts and its gradient with respect to every
 * parameter, on ONNX Runtime, for a batch in the reference collate's layout (Fgclip2LossBatch). One pass (towers →
 * loss → backward in one graph); sessions are compiled once per variant (long captions / boxes / hard boxes present,
 * text length, frozen set) and cached; batch size, patch budget and box counts are symbolic.
 *
 * The CMR threshold θ is state of the objective, not a parameter: `compute` takes θ before the step and returns
 * `thresholdComputed` (mean positive hard logit − mean non-zero negative one, get_cmr_loss) and `thresholdOut`
 * (clamped to [0, 10], what the reference keeps for the next step on one process).
 */
import { join } from 'node:path';
import { FgClipError } from '../../errors.js';
import { EXTERNAL_DATA_NAME } from '../../graph/onnx-builder.js';
import { roiAlign1x1 } from '../../postprocess/roi-align.js';
import { positionResizeMatrix } from '../../preprocess/naflex.js';
import { ort, sessionOptions } from '../../runtime/session.js';
import { gradName } from '../../train/graph.js';
import { readSafetensors } from '../../weights/safetensors.js';
import { parseFgclip2Config, type Fgclip2Config } from './config.js';
import { checkFgclip2Batch, fgclip2BatchFromReferenceJson, type BoxSlot, type Fgclip2LossBatch } from './loss.js';
import {
  buildV2TrainGraph,
  fgclip2ParameterShapes,
  V2_HARD_GROUP,
  V2_TIC_TOP,
  V2_TRAIN_IO,
  type V2LossPart,
  type V2TrainGraph,
  type V2Variant,
} from './train-graph.js';

type FloatArray = Float32Array | Float64Array;

/** Where train_fgclip2.py:554-555 starts the two region scales when a checkpoint does not carry them (ln 100). */
export const V2_REGION_SCALE_INIT = 4.6052;
/** θ before the first step (the model's `thresholds`) */
export const V2_THRESHOLD_INIT = 0.5;
const THRESHOLD_MAX = 10;

export interface V2GradientRequest {
  /** θ of the CMR term before this step (default 0.5) */
  readonly threshold?: number;
  /** parameters that get no gradient */
  readonly frozen?: ReadonlySet<string>;
}

export interface V2GradientResult<F extends FloatArray = Float32Array> {
  readonly loss: number;
  readonly parts: Record<V2LossPart, number>;
  /** every non-frozen parameter (zeros where the objective does not reach it) */
  readonly grads: Map<string, F>;
  readonly thresholdComputed: number;
  readonly thresholdOut: number;
}

export interface V2EngineOptions {
  readonly threads?: number;
  /** float32 (default) or float64 (finite-difference checks) */
  readonly dtype?: 'float' | 'double';
}

interface Compiled {
  readonly graph: V2TrainGraph;
  readonly session: ort.InferenceSession;
}

/** RoIAlign weights of one box on an h×w grid: row [h·w] (the kernel applied to the identity map). */
function roiRow(h: number, w: number, box: readonly number[]): Float32Array {
  const cells = h * w;
  const eye = new Float32Array(cells * cells);
  for (let j = 0; j < cells; j++) eye[j * cells + j] = 1;
  return roiAlign1x1(eye, h, w, cells, [[box[0] * w, box[1] * h, box[2] * w, box[3] * h]])[0];
}

export class Fgclip2GradientEngine {
  readonly parameters: ReadonlyMap<string, readonly number[]>;
  private readonly sessions = new Map<string, Promise<Compiled>>();
  private readonly F: Float32ArrayConstructor | Float64ArrayConstructor;
  private readonly tensorType: 'float32' | 'float64';
  private disposed = false;

  constructor(
    readonly config: Fgclip2Config,
    private readonly opts: V2EngineOptions = {},
  ) {
    this.parameters = fgclip2ParameterShapes(config);
    this.F = opts.dtype === 'double' ? Float64Array : Float32Array;
    this.tensorType = opts.dtype === 'double' ? 'float64' : 'float32';
  }

  async compute(params: ReadonlyMap<string, FloatArray>, batch: Fgclip2LossBatch, request: V2GradientRequest = {}): Promise<V2GradientResult<FloatArray>> {
    if (this.disposed) throw new FgClipError('DISPOSED', 'FG-CLIP 2 gradient engine: already disposed');
    this.checkParams(params);
    const frozen = request.frozen ?? new Set<string>();
    for (const f of frozen)
      if (!this.parameters.has(f)) throw new FgClipError('INPUT_INVALID', `gradient request: frozen parameter ${f} is not a parameter of this model`);
    const threshold = request.threshold ?? V2_THRESHOLD_INIT;
    if (!Number.isFinite(threshold)) throw new FgClipError('INPUT_INVALID', `gradient request: threshold must be a finite number (got ${threshold})`);
    const { feeds, variant } = this.feeds(batch, threshold);
    const c = await this.compiled(variant, frozen);
    for (const name of c.graph.params)
      feeds[name] = new ort.Tensor(this.tensorType, this.asDtype(params.get(name) as FloatArray), this.parameters.get(name) as number[]);
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await c.session.run(feeds);
    } catch (e) {
      throw new FgClipError('RUNTIME', `FG-CLIP 2 gradient engine: the training step failed in ONNX Runtime: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
    const grads = new Map<string, FloatArray>();
    for (const n of c.graph.gradParams) grads.set(n, out[gradName(n)].data as FloatArray);
    for (const [name, shape] of this.parameters) if (!frozen.has(name) && !grads.has(name)) grads.set(name, new this.F(shape.reduce((a, b) => a * b, 1)));
    const parts = Object.fromEntries(V2_TRAIN_IO.parts.map((p) => [p, Number((out[p].data as FloatArray)[0])])) as Record<V2LossPart, number>;
    let thresholdComputed = threshold;
    const hl = out[V2_TRAIN_IO.hardLogits];
    if (hl) {
      // get_cmr_loss: mean positive logit − mean of the non-zero negative logits
      const d = hl.data as FloatArray;
      const V = d.length / V2_HARD_GROUP;
      let pos = 0;
      let neg = 0;
      let nNeg = 0;
      for (let i = 0; i < V; i++) {
        pos += d[i * V2_HARD_GROUP];
        for (let j = 1; j < V2_HARD_GROUP; j++) {
          const x = d[i * V2_HARD_GROUP + j];
          if (x !== 0) {
            neg += x;
            nNeg++;
          }
        }
      }
      thresholdComputed = pos / V - neg / nNeg;
    }
    return {
      loss: Number((out[V2_TRAIN_IO.loss].data as FloatArray)[0]),
      parts,
      grads,
      thresholdComputed,
      thresholdOut: Math.min(THRESHOLD_MAX, Math.max(0, thresholdComputed)),
    };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).session.release().catch(() => undefined);
  }

  private asDtype(v: FloatArray): FloatArray {
    if (this.opts.dtype === 'double') return v instanceof Float64Array ? v : Float64Array.from(v);
    return v instanceof Float32Array ? v : Float32Array.from(v);
  }

  private checkParams(params: ReadonlyMap<string, FloatArray>): void {
    for (const [name, shape] of this.parameters) {
      const v = params.get(name);
      const n = shape.reduce((a, b) => a * b, 1);
      if (!v) throw new FgClipError('INPUT_INVALID', `gradient engine: parameter ${name} is missing`);
      if (v.length !== n)
        throw new FgClipError('INPUT_INVALID', `gradient engine: parameter ${name} has ${v.length} values (expected ${n} for [${shape.join(', ')}])`);
    }
  }

  /** Graph inputs for a batch (everything but the parameters) and the variant it needs. */
  private feeds(batch: Fgclip2LossBatch, threshold: number): { feeds: Record<string, ort.Tensor>; variant: V2Variant } {
    const cfg = this.config;
    const { boxSlots, hardSlots } = checkFgclip2Batch(batch);
    const B = batch.pixelValues.length;
    const p = cfg.vision_config.patch_size;
    const row = 3 * p * p;
    const G2 = cfg.vision_config.num_patches;
    const N = batch.pixelValues[0].length / row;
    const px = new this.F(B * N * row);
    const mask = new this.F(B * N);
    const posW = new this.F(B * N * G2);
    batch.pixelValues.forEach((pv, b) => {
      if (pv.length !== N * row)
        throw new FgClipError(
          'INPUT_INVALID',
          `loss: pixel_values[${b}] has ${pv.length / row} patches of ${row} values (image 0 has ${N}; a batch is padded to one budget)`,
        );
      const m = batch.pixelAttentionMask[b];
      if (m.length !== N) throw new FgClipError('INPUT_INVALID', `loss: pixel_attention_mask[${b}] has ${m.length} entries (expected ${N})`);
      const [h, w] = batch.spatialShapes[b];
      if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1 || h * w > N)
        throw new FgClipError(
          'INPUT_INVALID',
          `loss: spatial_shapes[${b}] is ${JSON.stringify(batch.spatialShapes[b])} (expected two positive integers with h·w ≤ ${N})`,
        );
      px.set(pv, b * N * row);
      for (let i = 0; i < N; i++) mask[b * N + i] = m[i];
      posW.set(positionResizeMatrix(cfg.grid, h, w, N), b * N * G2);
    });
    const hasLong = batch.textLong !== undefined && batch.textLong.length > 0;
    // stage-2 terms only with long captions, as the reference (it returns the short loss alone otherwise)
    const boxes = hasLong && boxSlots.length > 0;
    const hard = hasLong && hardSlots.length > 0;
    const texts = [...batch.textShort, ...(boxes ? boxSlots.map((s) => batch.boxTexts[s.flat]) : []), ...(hard ? batch.hardTexts : [])];
    const L = batch.textShort[0]?.length ?? 0;
    const maxL = cfg.text_config.max_position_embeddings;
    if (L < 1 || L > maxL) throw new FgClipError('INPUT_INVALID', `loss: text_short rows have ${L} tokens (expected 1..${maxL})`);
    const vocab = cfg.text_config.vocab_size;
    const ids = (rows: readonly (readonly number[])[], len: number, what: string) => {
      const out = new BigInt64Array(rows.length * len);
      rows.forEach((r, i) => {
        if (r.length !== len)
          throw new FgClipError('INPUT_INVALID', `loss: ${what} row ${i} has ${r.length} tokens (expected ${len}, padded like the other rows)`);
        r.forEach((id, j) => {
          if (!Number.isInteger(id) || id < 0 || id >= vocab)
            throw new FgClipError('INPUT_INVALID', `loss: ${what} row ${i} has token id ${id} outside the vocabulary (0..${vocab - 1})`);
          out[i * len + j] = BigInt(id);
        });
      });
      return new ort.Tensor('int64', out, [rows.length, len]);
    };
    const feeds: Record<string, ort.Tensor> = {
      [V2_TRAIN_IO.pixels]: new ort.Tensor(this.tensorType, px, [B, N, row]),
      [V2_TRAIN_IO.pixelMask]: new ort.Tensor(this.tensorType, mask, [B, N]),
      [V2_TRAIN_IO.positionWeights]: new ort.Tensor(this.tensorType, posW, [B, N, G2]),
      [V2_TRAIN_IO.texts]: ids(texts, L, 'text_short/box_texts/hard_texts'),
    };
    if (hasLong) feeds[V2_TRAIN_IO.longIds] = ids(batch.textLong as readonly (readonly number[])[], cfg.text_config.longtext_len, 'text_long');
    if (boxes || hard) {
      const sizes = [B, boxes ? boxSlots.length : 0, hard ? batch.hardTexts.length : 0];
      feeds[V2_TRAIN_IO.textSplit] = new ort.Tensor('int64', BigInt64Array.from(sizes.map(BigInt)), [3]);
    }
    const roi = (slots: readonly BoxSlot[], infos: readonly (readonly number[])[], what: string) => {
      const m = new this.F(slots.length * B * N);
      slots.forEach(({ image, flat }, k) => {
        const box = infos[flat];
        if (box.length !== 4 || !box.every((v) => Number.isFinite(v)))
          throw new FgClipError('BOX_INVALID', `loss: ${what}[${flat}] must be four finite numbers (got ${JSON.stringify(box)})`);
        const [h, w] = batch.spatialShapes[image];
        m.set(roiRow(h, w, box), k * B * N + image * N);
      });
      return new ort.Tensor(this.tensorType, m, [slots.length, B * N]);
    };
    if (boxes) {
      feeds[V2_TRAIN_IO.boxRoi] = roi(boxSlots, batch.boxInfos, 'box_infos_normalized_xyxy');
      // the reference's topk(10) needs 10 boxes (with fewer it raises inside its try/except and drops every stage-2 term); we keep min(10, K)
      feeds[V2_TRAIN_IO.ticK] = new ort.Tensor('int64', BigInt64Array.from([BigInt(Math.min(V2_TIC_TOP, boxSlots.length))]), [1]);
    }
    if (hard) {
      feeds[V2_TRAIN_IO.hardRoi] = roi(hardSlots, batch.hardInfos, 'hard_infos_normalized_xyxy');
      feeds[V2_TRAIN_IO.threshold] = new ort.Tensor(this.tensorType, this.F.from([threshold]), []);
    }
    return { feeds, variant: { long: hasLong, boxes, hard, textLength: L } };
  }

  private compiled(v: V2Variant, frozen: ReadonlySet<string>): Promise<Compiled> {
    const key = [v.long, v.boxes, v.hard, v.textLength, [...frozen].sort().join(',')].join('|');
    let p = this.sessions.get(key);
    if (!p) {
      p = (async () => {
        const graph = buildV2TrainGraph(this.config, this.parameters, v, { dtype: this.opts.dtype, frozen });
        const so = {
          ...sessionOptions({ threads: this.opts.threads }),
          ...(this.opts.dtype === 'double' ? { graphOptimizationLevel: 'basic' as const } : {}),
          logSeverityLevel: 3 as const,
        };
        try {
          const session = await ort.InferenceSession.create(graph.built.model, {
            ...so,
            externalData: [{ path: EXTERNAL_DATA_NAME, data: graph.built.weights ?? new Uint8Array(1) }],
          });
          return { graph, session };
        } catch (e) {
          throw new FgClipError(
            'RUNTIME',
            `FG-CLIP 2 gradient engine: ONNX Runtime could not create the training session: ${e instanceof Error ? e.message : String(e)}`,
            { cause: e },
          );
        }
      })();
      p.catch(() => this.sessions.delete(key));
      this.sessions.set(key, p);
    }
    return p;
  }
}

/** The engine plus the checkpoint's parameter values. */
export interface Fgclip2CheckpointEngine extends Fgclip2GradientEngine {
  readonly initialParams: ReadonlyMap<string, Float32Array>;
  /** training-only scales the checkpoint did not carry (started at 4.6052 as train_fgclip2.py does) */
  readonly initialized: readonly string[];
}

/** A gradient engine for an FG-CLIP 2 checkpoint folder (config.json + model.safetensors, F32/F16/BF16). */
export async function createFgclip2GradientEngine(dir: string, opts: V2EngineOptions = {}): Promise<Fgclip2CheckpointEngine> {
  const { readFile } = await import('node:fs/promises');
  const configPath = join(dir, 'config.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(configPath, 'utf8'));
  } catch (e) {
    throw new FgClipError('CONFIG_INVALID', `${configPath}: cannot be read as JSON (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  const config = parseFgclip2Config(json, configPath);
  const engine = new Fgclip2GradientEngine(config, opts);
  const weightsPath = join(dir, 'model.safetensors');
  const tensors = await readSafetensors(weightsPath, { only: (n) => engine.parameters.has(n) });
  const initial = new Map<string, Float32Array>();
  const initialized: string[] = [];
  for (const [name, shape] of engine.parameters) {
    const t = tensors.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!t) {
      if (name === 'logit_scale_finegraind' || name === 'logit_scale_hardneg') {
        initial.set(name, Float32Array.of(V2_REGION_SCALE_INIT));
        initialized.push(name);
        continue;
      }
      throw new FgClipError('WEIGHTS_MISSING', `${weightsPath}: tensor ${name} is missing. Is this an FG-CLIP 2 checkpoint?`);
    }
    if (t.data.length !== n)
      throw new FgClipError('WEIGHTS_SHAPE', `${weightsPath}: tensor ${name} has shape [${t.shape.join(', ')}] (expected [${shape.join(', ')}])`);
    initial.set(name, t.data);
  }
  return Object.assign(engine, { initialParams: initial, initialized });
}

/** What `fgclip loss --json` prints for an FG-CLIP 2 checkpoint. */
export interface Fgclip2LossReport {
  readonly loss: number;
  readonly parts: Record<V2LossPart, number>;
  /** L2 norm of the gradient of every parameter (the checkpoint's tensor names) */
  readonly grad_norms: Record<string, number>;
  readonly threshold_computed: number;
  readonly threshold_out: number;
  /** training-only scales the checkpoint did not carry (started at 4.6052 as train_fgclip2.py does) */
  readonly initialized: readonly string[];
}

/**
 * `fgclip loss` for an FG-CLIP 2 folder: the stage-2 loss of a reference-layout batch, its parts and every gradient
 * norm, through the gradient engine (train-engine.ts); θ is the batch file's `threshold_in` when present, else 0.5.
 */
export async function fgclip2LossOfReferenceBatch(dir: string, json: unknown, threads?: number): Promise<Fgclip2LossReport> {
  const { batch, threshold } = fgclip2BatchFromReferenceJson(json);
  const engine = await createFgclip2GradientEngine(dir, { threads });
  try {
    const r = await engine.compute(engine.initialParams, batch, { threshold });
    const gradNorms: Record<string, number> = {};
    for (const [name, g] of r.grads) {
      let s = 0;
      for (let i = 0; i < g.length; i++) s += g[i] * g[i];
      gradNorms[name] = Math.sqrt(s);
    }
    return {
      loss: r.loss,
      parts: r.parts,
      grad_norms: gradNorms,
      threshold_computed: r.thresholdComputed,
      threshold_out: r.thresholdOut,
      initialized: engine.initialized,
    };
  } finally {
    await engine.dispose();
  }
}
