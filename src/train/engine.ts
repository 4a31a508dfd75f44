/**
 * The gradient engine: FG-CLIP v1's reference loss and its gradient with respect to every parameter, on ONNX
 * Runtime, from the training graphs of graph.ts.
 *
 * Single pass (chunkSize ≥ batch): one graph, towers → loss → backward.
 * Two-pass big-batch scheme (chunkSize < batch): 1) embed the batch chunk by chunk with a forward-only graph (no
 * activations kept between chunks); 2) the loss graph gives the loss and d loss / d embedding for the whole batch
 * (every image sees every caption as a negative); 3) each chunk is re-run forward and backward, seeded with its rows
 * of those embedding gradients, and the parameter gradients are summed. Memory is one chunk's activations; the
 * result equals the single pass (chunks.test.ts).
 */
import type { FgClipConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import { EXTERNAL_DATA_NAME } from '../graph/onnx-builder.js';
import { prepareTextBatch } from '../families/fgclip/text-inputs.js';
import { ort, sessionOptions } from '../runtime/session.js';
import { fgclipTensors } from '../families/fgclip/checkpoint.js';
import { validateBatch } from './batch.js';
import {
  buildFullGraph,
  buildLossGraph,
  buildTowerGraph,
  gradName,
  HARD_GROUP,
  IO,
  rowsGradName,
  seedName,
  TOKEN_EMBEDDING,
  type BuildOptions,
  type GraphVariant,
  type TrainGraph,
} from './graph.js';
import { roiMatrix } from './roi-matrix.js';
import type { GradientEngine, GradientRequest, GradientResult, LossParts, NormalizedBox, TrainBatch } from './types.js';

type FloatArray = Float32Array | Float64Array;

/** Embeddings of a batch, row-major [rows, P] each (see `OrtGradientEngine.embed`). */
export interface BatchEmbeddings {
  readonly image: FloatArray;
  readonly long: FloatArray;
  readonly short: FloatArray;
  readonly boxText: FloatArray;
  readonly boxRegion: FloatArray;
  readonly hardText: FloatArray;
  readonly hardRegion: FloatArray;
}

export interface GradientEngineOptions {
  /** intra-op threads (default: all cores) */
  readonly threads?: number;
  /** float32 (default, the reference's precision here) or float64 (for finite-difference checks) */
  readonly dtype?: 'float' | 'double';
}

/** The raw result, in the engine's dtype. */
export interface RawGradientResult {
  readonly loss: number;
  readonly parts: LossParts;
  readonly grads: Map<string, FloatArray>;
}

interface Compiled {
  readonly graph: TrainGraph;
  readonly session: ort.InferenceSession;
}

const EMPTY_TABLES = { shortPositions: new Float32Array(0), longPositions: new Float32Array(0) };

/** One chunk's graph inputs (everything but the parameters). */
interface ChunkFeeds {
  readonly feeds: Record<string, ort.Tensor>;
  readonly variant: GraphVariant;
  readonly images: number;
  readonly boxes: number;
  readonly hard: number;
}

export class OrtGradientEngine implements GradientEngine {
  readonly parameters: ReadonlyMap<string, readonly number[]>;
  private readonly sessions = new Map<string, Promise<Compiled>>();
  private readonly F: Float32ArrayConstructor | Float64ArrayConstructor;
  private readonly tensorType: 'float32' | 'float64';
  private disposed = false;

  constructor(
    readonly config: FgClipConfig,
    private readonly opts: GradientEngineOptions = {},
  ) {
    this.parameters = fgclipTensors(config);
    this.F = opts.dtype === 'double' ? Float64Array : Float32Array;
    this.tensorType = opts.dtype === 'double' ? 'float64' : 'float32';
  }

  async compute(params: ReadonlyMap<string, Float32Array>, batch: TrainBatch, request: GradientRequest): Promise<GradientResult> {
    const raw = await this.computeRaw(params, batch, request);
    const grads = new Map<string, Float32Array>();
    for (const [k, v] of raw.grads) grads.set(k, v instanceof Float32Array ? v : Float32Array.from(v));
    return { loss: raw.loss, parts: raw.parts, grads };
  }

  async computeRaw(params: ReadonlyMap<string, FloatArray>, batch: TrainBatch, request: GradientRequest): Promise<RawGradientResult> {
    if (this.disposed) throw new FgClipError('DISPOSED', 'gradient engine: already disposed');
    const stage = request.stage;
    if (stage !== 1 && stage !== 2) throw new FgClipError('INPUT_INVALID', `gradient request: stage must be 1 or 2 (got ${JSON.stringify(stage)})`);
    this.checkParams(params);
    validateBatch(batch, this.config, stage);
    const frozen = request.frozen ?? new Set<string>();
    for (const f of frozen)
      if (!this.parameters.has(f)) throw new FgClipError('INPUT_INVALID', `gradient request: frozen parameter ${f} is not a parameter of this model`);
    const chunk = request.chunkSize ?? batch.size;
    if (!Number.isInteger(chunk) || chunk < 1) throw new FgClipError('INPUT_INVALID', `gradient request: chunkSize must be a positive integer (got ${chunk})`);
    for (const [k, w] of [
      ['regionWeight', request.regionWeight],
      ['hardNegativeWeight', request.hardNegativeWeight],
    ] as const) {
      if (w !== undefined && !(typeof w === 'number' && Number.isFinite(w)))
        throw new FgClipError('INPUT_INVALID', `gradient request: ${k} must be a finite number`);
    }
    const into = this.checkInto(request.into, params);
    const build: BuildOptions = { dtype: this.opts.dtype, frozen, regionWeight: request.regionWeight, hardNegativeWeight: request.hardNegativeWeight };
    const result =
      chunk >= batch.size ? await this.singlePass(params, batch, stage, build, into) : await this.twoPass(params, batch, stage, build, chunk, into);
    // every trainable parameter gets a gradient (zeros where the objective does not reach it, e.g. stage-2 scales in stage 1)
    for (const [name, shape] of this.parameters) {
      if (frozen.has(name) || result.grads.has(name)) continue;
      const buf = into?.get(name);
      result.grads.set(name, buf ? buf.fill(0) : new this.F(shape.reduce((a, b) => a * b, 1)));
    }
    return result;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).session.release();
  }

  // ---- passes ----------------------------------------------------------------------------------------------------

  private async singlePass(
    params: ReadonlyMap<string, FloatArray>,
    batch: TrainBatch,
    stage: 1 | 2,
    o: BuildOptions,
    into?: ReadonlyMap<string, FloatArray>,
  ): Promise<RawGradientResult> {
    const c = this.chunkFeeds(batch, 0, batch.size, stage);
    if (c.variant.boxes || c.variant.hard) {
      const split = [c.images, c.boxes, c.hard * HARD_GROUP];
      c.feeds[IO.shortSplit] = new ort.Tensor('int64', BigInt64Array.from(split.map(BigInt)), [3]);
    }
    const compiled = await this.compiled('full', c.variant, o, () => buildFullGraph(this.config, this.parameters, c.variant, o));
    const out = await this.run(compiled, { ...c.feeds, ...this.paramFeeds(compiled.graph, params) }, into);
    const grads = new Map<string, FloatArray>();
    for (const n of compiled.graph.gradParams) grads.set(n, out[gradName(n)].data as FloatArray);
    this.addTokenRows(compiled.graph, out, c.feeds, grads, into);
    return { loss: scalar(out[IO.loss]), parts: partsOf(out), grads };
  }

  /**
   * Creates (compiles) the ONNX Runtime sessions a single-pass `compute` and an `embed` of this batch's shape will use,
   * without running them, so the first step's time is the step's and not the compilation's.
   */
  async prepare(batch: TrainBatch, stage: 1 | 2, request: Pick<GradientRequest, 'frozen' | 'regionWeight' | 'hardNegativeWeight'> = {}): Promise<void> {
    validateBatch(batch, this.config, stage);
    const c = this.chunkFeeds(batch, 0, batch.size, stage);
    const o: BuildOptions = {
      dtype: this.opts.dtype,
      frozen: request.frozen ?? new Set<string>(),
      regionWeight: request.regionWeight,
      hardNegativeWeight: request.hardNegativeWeight,
    };
    await this.compiled('full', c.variant, o, () => buildFullGraph(this.config, this.parameters, c.variant, o));
    await this.compiled('towers', c.variant, {}, () => buildTowerGraph(this.config, this.parameters, c.variant, false, {}));
  }

  /**
   * The batch's embeddings (unnormalized projections), forward only, chunk by chunk: image [B, P], long and short
   * captions [B, P], box texts and box regions [K, P], hard texts [11·V, P] and hard-box regions [V, P].
   */
  async embed(params: ReadonlyMap<string, FloatArray>, batch: TrainBatch, stage: 1 | 2, chunkSize = batch.size): Promise<BatchEmbeddings> {
    this.checkParams(params);
    validateBatch(batch, this.config, stage);
    const chunks: ChunkFeeds[] = [];
    for (let i = 0; i < batch.size; i += chunkSize) chunks.push(this.chunkFeeds(batch, i, Math.min(batch.size, i + chunkSize), stage));
    return this.embedChunks(params, chunks, {});
  }

  private async embedChunks(params: ReadonlyMap<string, FloatArray>, chunks: readonly ChunkFeeds[], o: BuildOptions): Promise<BatchEmbeddings> {
    const P = this.config.projection_dim;
    const e = {
      image: [] as FloatArray[],
      long: [] as FloatArray[],
      short: [] as FloatArray[],
      boxText: [] as FloatArray[],
      hardText: [] as FloatArray[],
      boxRegion: [] as FloatArray[],
      hardRegion: [] as FloatArray[],
    };
    for (const c of chunks) {
      const fwd = await this.compiled('towers', c.variant, o, () => buildTowerGraph(this.config, this.parameters, c.variant, false, o));
      const out = await this.run(fwd, { ...c.feeds, ...this.paramFeeds(fwd.graph, params) });
      e.image.push(out[IO.image].data as FloatArray);
      e.long.push(out[IO.long].data as FloatArray);
      const short = out[IO.short].data as FloatArray;
      e.short.push(short.subarray(0, c.images * P));
      e.boxText.push(short.subarray(c.images * P, (c.images + c.boxes) * P));
      e.hardText.push(short.subarray((c.images + c.boxes) * P));
      if (c.variant.boxes) e.boxRegion.push(out[IO.boxRegion].data as FloatArray);
      if (c.variant.hard) e.hardRegion.push(out[IO.hardRegion].data as FloatArray);
    }
    const cat = (parts: FloatArray[]) => this.concat(parts);
    return {
      image: cat(e.image),
      long: cat(e.long),
      short: cat(e.short),
      boxText: cat(e.boxText),
      hardText: cat(e.hardText),
      boxRegion: cat(e.boxRegion),
      hardRegion: cat(e.hardRegion),
    };
  }

  private async twoPass(
    params: ReadonlyMap<string, FloatArray>,
    batch: TrainBatch,
    stage: 1 | 2,
    o: BuildOptions,
    chunk: number,
    into?: ReadonlyMap<string, FloatArray>,
  ): Promise<RawGradientResult> {
    const P = this.config.projection_dim;
    const chunks: ChunkFeeds[] = [];
    for (let i = 0; i < batch.size; i += chunk) chunks.push(this.chunkFeeds(batch, i, Math.min(batch.size, i + chunk), stage));
    // pass 1: embeddings, chunk by chunk, forward only
    const embeds = await this.embedChunks(params, chunks, o);
    // loss over the whole batch
    const K = chunks.reduce((a, c) => a + c.boxes, 0);
    const V = chunks.reduce((a, c) => a + c.hard, 0);
    const variant: GraphVariant = { stage, boxes: stage === 2 && K > 0, hard: stage === 2 && V > 0 };
    const lossG = await this.compiled('loss', variant, o, () => buildLossGraph(this.config, this.parameters, variant, o));
    const t = (data: FloatArray, rows: number) => new ort.Tensor(this.tensorType, data, [rows, P]);
    const lf: Record<string, ort.Tensor> = {
      [IO.image]: t(embeds.image, batch.size),
      [IO.long]: t(embeds.long, batch.size),
      [IO.short]: t(embeds.short, batch.size),
    };
    if (variant.boxes) {
      lf[IO.boxText] = t(embeds.boxText, K);
      lf[IO.boxRegion] = t(embeds.boxRegion, K);
    }
    if (variant.hard) {
      lf[IO.hardText] = t(embeds.hardText, V * HARD_GROUP);
      lf[IO.hardRegion] = t(embeds.hardRegion, V);
    }
    const lo = await this.run(lossG, { ...lf, ...this.paramFeeds(lossG.graph, params) }, into);
    const grads = new Map<string, FloatArray>();
    for (const n of lossG.graph.gradParams) grads.set(n, lo[gradName(n)].data as FloatArray);
    const dOf = (n: string) => lo[gradName(n)]?.data as FloatArray | undefined;
    const dImage = dOf(IO.image)!;
    const dLong = dOf(IO.long)!;
    const dShort = dOf(IO.short)!;
    const dBoxText = dOf(IO.boxText);
    const dBoxRegion = dOf(IO.boxRegion);
    const dHardText = dOf(IO.hardText);
    const dHardRegion = dOf(IO.hardRegion);
    // pass 2: each chunk forward + backward, seeded with its rows of the embedding gradients
    let i0 = 0;
    let k0 = 0;
    let v0 = 0;
    // the first chunk writes into the result's buffers (`into` when given), later ones into one scratch set reused
    // across chunks and added in
    let scratch: Map<string, FloatArray> | undefined;
    for (const c of chunks) {
      const bwd = await this.compiled('towers_backward', c.variant, o, () => buildTowerGraph(this.config, this.parameters, c.variant, true, o));
      const rows = (d: FloatArray | undefined, from: number, n: number) => (d ? d.subarray(from * P, (from + n) * P) : new this.F(0));
      const nShort = c.images + c.boxes + c.hard * HARD_GROUP;
      const seeds: Record<string, ort.Tensor> = {
        [seedName(IO.image)]: new ort.Tensor(this.tensorType, rows(dImage, i0, c.images), [c.images, P]),
        [seedName(IO.long)]: new ort.Tensor(this.tensorType, rows(dLong, i0, c.images), [c.images, P]),
        [seedName(IO.short)]: new ort.Tensor(
          this.tensorType,
          this.concat([rows(dShort, i0, c.images), rows(dBoxText, k0, c.boxes), rows(dHardText, v0 * HARD_GROUP, c.hard * HARD_GROUP)]),
          [nShort, P],
        ),
      };
      if (c.variant.boxes) seeds[seedName(IO.boxRegion)] = new ort.Tensor(this.tensorType, rows(dBoxRegion, k0, c.boxes), [c.boxes, P]);
      if (c.variant.hard) seeds[seedName(IO.hardRegion)] = new ort.Tensor(this.tensorType, rows(dHardRegion, v0, c.hard), [c.hard, P]);
      const first = bwd.graph.gradParams.every((n) => !grads.has(n));
      const out = await this.run(bwd, { ...c.feeds, ...seeds, ...this.paramFeeds(bwd.graph, params) }, first ? into : scratch);
      for (const n of bwd.graph.gradParams) {
        const g = out[gradName(n)].data as FloatArray;
        const acc = grads.get(n);
        if (!acc) grads.set(n, g);
        else {
          for (let j = 0; j < acc.length; j++) acc[j] += g[j];
          (scratch ??= new Map()).set(n, g);
        }
      }
      this.addTokenRows(bwd.graph, out, c.feeds, grads, into);
      i0 += c.images;
      k0 += c.boxes;
      v0 += c.hard;
    }
    return { loss: scalar(lo[IO.loss]), parts: partsOf(lo), grads };
  }

  /**
   * Adds a run's token-embedding row gradients (graph.ts `tokenEmbedding`) into the [vocab, D] gradient of the token
   * embedding in `grads` (created zeroed, in `into`'s buffer when given, by the first run that has rows).
   */
  private addTokenRows(
    g: TrainGraph,
    out: ort.InferenceSession.ReturnType,
    feeds: Record<string, ort.Tensor>,
    grads: Map<string, FloatArray>,
    into?: ReadonlyMap<string, FloatArray>,
  ): void {
    if (g.tokenRows.length === 0) return;
    const [V, D] = this.parameters.get(TOKEN_EMBEDDING)!;
    let acc = grads.get(TOKEN_EMBEDDING);
    if (!acc) {
      acc = into?.get(TOKEN_EMBEDDING)?.fill(0) ?? new this.F(V * D);
      grads.set(TOKEN_EMBEDDING, acc);
    }
    for (const idsName of g.tokenRows) {
      const ids = feeds[idsName].data as BigInt64Array;
      const d = out[rowsGradName(idsName)].data as FloatArray;
      for (let r = 0; r < ids.length; r++) {
        const o = Number(ids[r]) * D;
        const s = r * D;
        for (let j = 0; j < D; j++) acc[o + j] += d[s + j];
      }
    }
  }

  // ---- inputs ----------------------------------------------------------------------------------------------------

  private chunkFeeds(batch: TrainBatch, i0: number, i1: number, stage: 1 | 2): ChunkFeeds {
    const cfg = this.config;
    const vc = cfg.vision_config;
    const n = i1 - i0;
    const per = vc.num_channels * vc.image_size * vc.image_size;
    const feeds: Record<string, ort.Tensor> = {};
    feeds[IO.pixels] = new ort.Tensor(this.tensorType, this.F.from(batch.pixels.subarray(i0 * per, i1 * per)), [
      n,
      vc.num_channels,
      vc.image_size,
      vc.image_size,
    ]);
    const boxes: readonly (readonly NormalizedBox[])[] = stage === 2 ? (batch.boxes ?? []).slice(i0, i1) : [];
    const hard: readonly (readonly NormalizedBox[])[] = stage === 2 ? (batch.hardBoxes ?? []).slice(i0, i1) : [];
    const before = (lists: readonly (readonly NormalizedBox[])[] | undefined) => (lists ?? []).slice(0, i0).reduce((a, b) => a + b.length, 0);
    const K = boxes.reduce((a, b) => a + b.length, 0);
    const V = hard.reduce((a, b) => a + b.length, 0);
    const k0 = stage === 2 ? before(batch.boxes) : 0;
    const v0 = stage === 2 ? before(batch.hardBoxes) : 0;
    const shortRows = [
      ...batch.textShort.slice(i0, i1),
      ...(batch.boxTexts ?? []).slice(k0, k0 + K),
      ...(batch.hardTexts ?? []).slice(v0 * HARD_GROUP, (v0 + V) * HARD_GROUP),
    ];
    this.textFeeds(feeds, 'long', batch.textLong.slice(i0, i1));
    this.textFeeds(feeds, 'short', shortRows);
    const grid = vc.image_size / vc.patch_size;
    if (K > 0) feeds[IO.boxRoi] = this.matrix(roiMatrix(boxes, grid));
    if (V > 0) feeds[IO.hardRoi] = this.matrix(roiMatrix(hard, grid));
    return { feeds, variant: { stage, boxes: K > 0, hard: V > 0 }, images: n, boxes: K, hard: V };
  }

  private textFeeds(feeds: Record<string, ort.Tensor>, mode: 'long' | 'short', rows: readonly (readonly number[])[]): void {
    const tb = prepareTextBatch(this.config, EMPTY_TABLES, rows, mode);
    const io =
      mode === 'long'
        ? { ids: IO.longIds, mask: IO.longMask, pool: IO.longPool, pos: IO.longPos }
        : { ids: IO.shortIds, mask: IO.shortMask, pool: IO.shortPool, pos: IO.shortPos };
    feeds[io.ids] = new ort.Tensor('int64', tb.ids, [tb.B, tb.T]);
    feeds[io.mask] = new ort.Tensor(this.tensorType, this.F.from(tb.mask), [tb.T, tb.T]);
    feeds[io.pool] = new ort.Tensor('int64', tb.poolIndex, [tb.B]);
    feeds[io.pos] = new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: tb.T }, (_, i) => BigInt(i)),
      [tb.T],
    );
  }

  private matrix(m: { data: Float32Array; rows: number; cols: number }): ort.Tensor {
    return new ort.Tensor(this.tensorType, this.F.from(m.data), [m.rows, m.cols]);
  }

  private concat(parts: readonly FloatArray[]): FloatArray {
    const out = new this.F(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  private paramFeeds(g: TrainGraph, params: ReadonlyMap<string, FloatArray>): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of g.params) {
      const v = params.get(name)!;
      const data = this.opts.dtype === 'double' ? (v instanceof Float64Array ? v : Float64Array.from(v)) : v instanceof Float32Array ? v : Float32Array.from(v);
      feeds[name] = new ort.Tensor(this.tensorType, data, this.parameters.get(name) as number[]);
    }
    return feeds;
  }

  /** `into` buffers: known parameters, the parameter's size, the engine's precision (float64 engines allocate their own). */
  private checkInto(into: ReadonlyMap<string, Float32Array> | undefined, params: ReadonlyMap<string, FloatArray>): ReadonlyMap<string, FloatArray> | undefined {
    if (!into) return undefined;
    const overlaps = (a: FloatArray, b: FloatArray) =>
      a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
    for (const [name, buf] of into) {
      const shape = this.parameters.get(name);
      if (!shape) throw new FgClipError('INPUT_INVALID', `gradient request: into names ${name}, which is not a parameter of this model`);
      const n = shape.reduce((a, b) => a * b, 1);
      if (!(buf instanceof Float32Array) || buf.length !== n)
        throw new FgClipError('INPUT_INVALID', `gradient request: into buffer of ${name} must be a Float32Array of ${n} values`);
      if (overlaps(buf, params.get(name)!)) throw new FgClipError('INPUT_INVALID', `gradient request: into buffer of ${name} is the parameter's own memory`);
    }
    return this.opts.dtype === 'double' ? undefined : into;
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

  // ---- sessions --------------------------------------------------------------------------------------------------

  private compiled(kind: string, v: GraphVariant, o: BuildOptions, make: () => TrainGraph): Promise<Compiled> {
    const key = [kind, v.stage, v.boxes, v.hard, o.regionWeight ?? '', o.hardNegativeWeight ?? '', [...(o.frozen ?? [])].sort().join(',')].join('|');
    let p = this.sessions.get(key);
    if (!p) {
      p = (async () => {
        const graph = make();
        // float64 graphs (finite-difference checks) stay at basic optimizations: ORT's QuickGelu fusion matches the
        // float64 pattern but its kernel is float32 only
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
            `gradient engine: ONNX Runtime could not create the ${kind} training session: ${e instanceof Error ? e.message : String(e)}`,
            { cause: e },
          );
        }
      })();
      p.catch(() => this.sessions.delete(key));
      this.sessions.set(key, p);
    }
    return p;
  }

  /**
   * Runs a training session. Parameter gradients (`grad:<param>` outputs) are written by ONNX Runtime straight into
   * JavaScript buffers (pre-allocated fetches: `into`'s, else allocated here), not into ORT's arena, which would keep
   * its high-water mark; the graph's nodes write them directly (no Identity, `GraphBuilder.outputInPlace`). The
   * gradients returned are those buffers: onnxruntime-node (1.30) also hands back each output as a fresh copy, which
   * is dropped.
   */
  private async run(c: Compiled, feeds: Record<string, ort.Tensor>, into?: ReadonlyMap<string, FloatArray>): Promise<ort.InferenceSession.ReturnType> {
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const name of c.session.outputNames) fetches[name] = null;
    for (const p of c.graph.gradParams) {
      const shape = this.parameters.get(p)!;
      fetches[gradName(p)] = new ort.Tensor(this.tensorType, into?.get(p) ?? new this.F(shape.reduce((a, b) => a * b, 1)), shape as number[]);
    }
    try {
      const out: Record<string, ort.OnnxValue> = { ...(await c.session.run(feeds, fetches)) };
      for (const p of c.graph.gradParams) out[gradName(p)] = fetches[gradName(p)]!;
      return out;
    } catch (e) {
      throw new FgClipError('RUNTIME', `gradient engine: training step failed in ONNX Runtime: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
}

function scalar(t: ort.Tensor): number {
  return Number((t.data as FloatArray)[0]);
}

function partsOf(out: ort.InferenceSession.ReturnType): LossParts {
  const [itc_long, itc_short, region, hard_negative] = IO.parts.map((p) => scalar(out[p]));
  return { itc_long, itc_short, region, hard_negative };
}

/** A checkpoint already in memory: its config and its tensors (as `loadCheckpoint` returns them). */
export interface LoadedTrainModel {
  readonly config: FgClipConfig;
  readonly tensors: ReadonlyMap<string, { readonly data: Float32Array }>;
}

/** The engine plus the checkpoint's parameter values (the starting point of training, and what `fgclip loss` uses). */
export interface CheckpointGradientEngine extends OrtGradientEngine {
  readonly initialParams: ReadonlyMap<string, Float32Array>;
}

/**
 * A gradient engine for a checkpoint folder (any checkpoint `FgClip.load` reads: safetensors F32/F16/BF16,
 * sharded, pytorch_model.bin, or a plain OpenAI CLIP carried into the FG-CLIP layout) or an already loaded one.
 */
export async function createGradientEngine(source: string | LoadedTrainModel, opts: GradientEngineOptions = {}): Promise<CheckpointGradientEngine> {
  let model: LoadedTrainModel;
  if (typeof source === 'string') {
    const { loadConfig } = await import('../config/load.js');
    const { loadCheckpoint } = await import('../families/fgclip/checkpoint.js');
    const config = await loadConfig(source);
    model = { config, tensors: (await loadCheckpoint(source, config)).tensors };
  } else model = source;
  const engine = new OrtGradientEngine(model.config, opts) as OrtGradientEngine & { initialParams: Map<string, Float32Array> };
  const initial = new Map<string, Float32Array>();
  for (const name of engine.parameters.keys()) {
    const t = model.tensors.get(name);
    if (!t) throw new FgClipError('WEIGHTS_MISSING', `gradient engine: the checkpoint has no tensor ${name}`);
    initial.set(name, t.data);
  }
  engine.initialParams = initial;
  return engine;
}
