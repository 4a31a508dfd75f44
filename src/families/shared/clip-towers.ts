/**
 * What every CLIP-architecture family (FG-CLIP v1, plain CLIP) shares once its graphs exist: building them through the
 * on-disk graph cache (or in memory), and running the two ONNX Runtime sessions as a `FamilyModel`. A family supplies
 * its config, its text-input rules (position tables, lengths) and a build plan (how to turn the checkpoint into the
 * two graphs); this file knows nothing of any family's tensor names.
 */
import { GRAPH_LAYOUT_VERSION } from '../../graph/layout-version.js';
import type { ClipConfig, PreprocessConfig } from '../../config/types.js';
import { FgClipError } from '../../errors.js';
import { TEXT_INPUT_IDS, TEXT_MASK, TEXT_POOL_INDEX, TEXT_POSITIONS } from '../../graph/clip-text.js';
import { DENSE_EMBEDS, IMAGE_EMBEDS, VISION_INPUT, WITH_DENSE } from '../../graph/clip-vision.js';
import type { WeightSource } from '../../graph/blocks.js';
import type { BuiltModel, WeightSink } from '../../graph/onnx-builder.js';
import { interpolatePositionEmbedding } from '../../postprocess/position-interpolation.js';
import type { GraphSource, RuntimeSession } from '../../platform/ports.js';
import type { ClipTokenizer } from '../../tokenizer/index.js';
import type { FamilyLoadContext, FamilyModel, PreprocessMode, TextLengths, TextMode, VisionFeatures, VisionRunOptions } from '../types.js';
import { prepareClipTextBatch, type PositionTables, type TextBatchSpec } from './text-batch.js';

/** The vision tower's square input side: the option, else the checkpoint's; a positive multiple of the patch size. */
export function resolveImageSize(config: ClipConfig, requested: number | undefined): number {
  const vc = config.vision_config;
  const S = requested ?? vc.image_size;
  if (!Number.isInteger(S) || S <= 0 || S % vc.patch_size !== 0) {
    throw new FgClipError('INPUT_INVALID', `imageSize: expected a positive multiple of the patch size ${vc.patch_size} (got ${S})`);
  }
  return S;
}

/**
 * The vision position table for side `S` when it differs from the checkpoint's (PyTorch bicubic interpolation,
 * docs/model-spec.md §2.6); undefined at the native size, where the builder reads the stored table itself.
 */
export function visionPositionsFor(config: ClipConfig, w: WeightSource, S: number): Float32Array | undefined {
  const vc = config.vision_config;
  if (S === vc.image_size) return undefined;
  const g0 = vc.image_size / vc.patch_size;
  const table = w.get('vision_model.embeddings.position_embedding.weight', [g0 * g0 + 1, vc.hidden_size]);
  return interpolatePositionEmbedding(table, vc.hidden_size, S / vc.patch_size, S / vc.patch_size);
}

/** How a family turns its checkpoint into the two graphs (called only when the graph cache has no entry). */
export interface ClipBuildPlan {
  readonly tables: PositionTables;
  readonly logitScaleLog: number;
  buildText(sink?: WeightSink): BuiltModel;
  buildVision(sink?: WeightSink): BuiltModel;
  /**
   * after both builds: throws the checkpoint's problems (all in one error), drops the tensors, and returns the
   * checkpoint's tensors nothing used (to warn about)
   */
  finish(): readonly string[];
}

/**
 * A session opened on its first run (a failed open is retried on the next run). `opened` says whether it was; release
 * before any run releases nothing.
 */
function lazySession(open: () => Promise<RuntimeSession>): RuntimeSession & { readonly opened: boolean } {
  let s: Promise<RuntimeSession> | undefined;
  const get = () => {
    s ??= open().catch((e: unknown) => {
      s = undefined;
      throw e;
    });
    return s;
  };
  return {
    get opened() {
      return s !== undefined;
    },
    run: async (feeds) => (await get()).run(feeds),
    release: async () => {
      await (await s?.catch(() => undefined))?.release();
    },
  };
}

export interface ClipSessions {
  /**
   * from the graph cache, the text session is opened on the first text call (an image-only process never pays for
   * it); a freshly built graph's text session is open at once
   */
  readonly text: RuntimeSession;
  readonly vision: RuntimeSession;
  readonly tables: PositionTables;
  readonly logitScaleLog: number;
  readonly unknownTensors: readonly string[];
  readonly fromGraphCache: boolean;
}

/**
 * The text and vision sessions at resolution `S`, opened by the injected runtime (`ctx.runtime`): from the graph
 * store (`ctx.graphStore`) when it has them, else built from `plan()` (and stored).
 */
export async function clipSessions(ctx: FamilyLoadContext, S: number, plan: () => Promise<ClipBuildPlan>): Promise<ClipSessions> {
  const { options, runtime, graphStore } = ctx;
  const dtype = options.dtype ?? 'fp32';
  const entry = graphStore && (await graphStore.entry({ dtype, imageSize: S }));
  const hit = entry && (await entry.read(options.onWarning));
  if (hit) {
    const [nShort] = hit.meta.tableSizes;
    const long = hit.tables.subarray(nShort);
    const tables: PositionTables = { short: hit.tables.subarray(0, nShort), ...(long.length > 0 ? { long } : {}) };
    // verified by entry.read with the rest of the entry; an image-only process never opens the text session
    const text = lazySession(() => runtime.open('text_model', hit.text, options));
    const vision = await runtime.open('vision_model', hit.vision, options);
    return { text, vision, tables, logitScaleLog: hit.meta.logitScaleLog, unknownTensors: hit.meta.unknownTensors, fromGraphCache: true };
  }

  const p = await plan();
  const staging = await entry?.stage();
  let text: RuntimeSession;
  let vision: RuntimeSession;
  let unknownTensors: readonly string[];
  if (entry && staging) {
    let built: { readonly text: GraphSource; readonly vision: GraphSource };
    try {
      staging.writeModel('text', p.buildText(staging.sink('text')));
      staging.writeModel(`vision-${S}`, p.buildVision(staging.sink(`vision-${S}`)));
      unknownTensors = p.finish();
      const long = p.tables.long ?? new Float32Array(0);
      // the committed entry, or our own staged graphs when another process committed the same entry first
      built = await staging.commit([p.tables.short, long], {
        version: GRAPH_LAYOUT_VERSION,
        logitScaleLog: p.logitScaleLog,
        unknownTensors,
        tableSizes: [p.tables.short.length, long.length],
      });
    } catch (e) {
      staging.abort();
      if (e instanceof FgClipError) throw e;
      throw new FgClipError(
        'RUNTIME',
        `graph cache: could not write ${entry.location} (${e instanceof Error ? e.message : String(e)}). Set FGCLIP_CACHE to a writable folder, or load with graphCache: false.`,
        { cause: e },
      );
    }
    try {
      text = await runtime.open('text_model', built.text, options);
      vision = await runtime.open('vision_model', built.vision, options);
    } finally {
      staging.release();
    }
  } else {
    if (entry) options.onWarning?.(`graph cache: cannot create ${entry.location}; building in memory (set FGCLIP_CACHE to a writable folder)`);
    const textGraph = p.buildText();
    const visionGraph = p.buildVision();
    unknownTensors = p.finish();
    text = await runtime.open('text_model', textGraph, options);
    vision = await runtime.open('vision_model', visionGraph, options);
  }
  return { text, vision, tables: p.tables, logitScaleLog: p.logitScaleLog, unknownTensors, fromGraphCache: false };
}

export interface ClipTowerParts<C extends ClipConfig> {
  readonly config: C;
  readonly preprocessConfig: PreprocessConfig;
  readonly defaultPreprocess: PreprocessMode;
  readonly tokenizer: ClipTokenizer;
  readonly imageSize: number;
  readonly sessions: ClipSessions;
  readonly textLengths: TextLengths;
  /** the text graph's output of each mode */
  readonly textOutputs: { readonly short: string } & Partial<Record<TextMode, string>>;
}

/** Two CLIP towers as ONNX Runtime sessions: what the generic handle runs. */
export class ClipTowers<C extends ClipConfig> implements FamilyModel {
  readonly config: C;
  readonly preprocessConfig: PreprocessConfig;
  readonly defaultPreprocess: PreprocessMode;
  readonly tokenizer: ClipTokenizer;
  readonly imageSize: number;
  readonly textLengths: TextLengths;
  readonly logitScaleLog: number;
  readonly unknownTensors: readonly string[];
  readonly fromGraphCache: boolean;
  readonly positions: PositionTables;
  private readonly textSpec: TextBatchSpec;
  private readonly textOutputs: ClipTowerParts<C>['textOutputs'];
  private readonly text: RuntimeSession;
  private readonly vision: RuntimeSession;

  constructor(p: ClipTowerParts<C>) {
    this.config = p.config;
    this.preprocessConfig = p.preprocessConfig;
    this.defaultPreprocess = p.defaultPreprocess;
    this.tokenizer = p.tokenizer;
    this.imageSize = p.imageSize;
    this.textLengths = p.textLengths;
    this.logitScaleLog = p.sessions.logitScaleLog;
    this.unknownTensors = p.sessions.unknownTensors;
    this.fromGraphCache = p.sessions.fromGraphCache;
    this.positions = p.sessions.tables;
    this.text = p.sessions.text;
    this.vision = p.sessions.vision;
    this.textOutputs = p.textOutputs;
    const tc = p.config.text_config;
    this.textSpec = { hiddenSize: tc.hidden_size, vocabSize: tc.vocab_size, eosTokenId: tc.eos_token_id, lengths: p.textLengths };
  }

  get embeddingDim(): number {
    return this.config.projection_dim;
  }

  get grid(): readonly [number, number] {
    const g = this.imageSize / this.config.vision_config.patch_size;
    return [g, g];
  }

  /**
   * One vision pass. The graph's dense branch runs only when asked (an `If` on `with_dense`, graph/clip-vision.ts),
   * so a global-only call costs the global path alone, on the same session and weights.
   */
  async runVision(pixelValues: Float32Array, B: number, opts: VisionRunOptions = {}): Promise<VisionFeatures> {
    const S = this.imageSize;
    const withDense = opts.dense ?? true;
    const out = await this.vision.run({
      [VISION_INPUT]: { type: 'float32', data: pixelValues, dims: [B, 3, S, S] },
      [WITH_DENSE]: { type: 'bool', data: [withDense], dims: [] },
    });
    const P = this.embeddingDim;
    const [gh, gw] = this.grid;
    const N = gh * gw;
    const img = out[IMAGE_EMBEDS].data as Float32Array;
    const image = Array.from({ length: B }, (_, b) => img.slice(b * P, (b + 1) * P));
    if (!withDense) return { image, dense: image.map(() => []) };
    const den = out[DENSE_EMBEDS].data as Float32Array;
    const dense = Array.from({ length: B }, (_, b) => Array.from({ length: N }, (_, n) => den.slice((b * N + n) * P, (b * N + n + 1) * P)));
    return { image, dense };
  }

  async runText(inputIds: readonly (readonly number[])[], mode: TextMode, cut: boolean): Promise<Float32Array[]> {
    const output = this.textOutputs[mode];
    if (output === undefined) throw new FgClipError('INPUT_INVALID', `text ${mode} mode: this model has no ${mode} text path`);
    const batch = prepareClipTextBatch(this.textSpec, this.positions, inputIds, mode, cut);
    const D = this.textSpec.hiddenSize;
    const out = await this.text.run({
      [TEXT_INPUT_IDS]: { type: 'int64', data: batch.ids, dims: [batch.B, batch.T] },
      [TEXT_POSITIONS]: { type: 'float32', data: batch.positions, dims: [batch.T, D] },
      [TEXT_MASK]: { type: 'float32', data: batch.mask, dims: [batch.T, batch.T] },
      [TEXT_POOL_INDEX]: { type: 'int64', data: batch.poolIndex, dims: [batch.B] },
    });
    const f = out[output].data as Float32Array;
    const P = this.embeddingDim;
    return Array.from({ length: batch.B }, (_, b) => f.slice(b * P, (b + 1) * P));
  }

  dispose(): void {
    void this.text.release().catch(() => undefined);
    void this.vision.release().catch(() => undefined);
  }
}
