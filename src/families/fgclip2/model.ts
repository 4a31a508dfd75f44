/**
 * FG-CLIP 2 model: config + tokenizer + NaFlex preprocessing + the two ONNX graphs, with the reference's public
 * API (fgclip-spec §7.3): text features for the short/box/long walks, image features (MAP head), dense features
 * (first h·w rows), region features (RoIAlign on each image's own grid), and sigmoid scoring
 * `sigmoid(exp(logit_scale)·cos + logit_bias)`.
 */
import { isObject, parseJson } from '../../config/fields.js';
import { FgClipError } from '../../errors.js';
import type { LinearDtype } from '../../graph/blocks.js';
import { roiAlign1x1, type GridBox } from '../../postprocess/roi-align.js';
import { l2normalize } from '../../postprocess/similarity.js';
import { decodeInput } from '../../preprocess/decode-input.js';
import { dynamicMaxPatches, naflexPreprocess, positionResizeMatrix, type NaflexImage } from '../../preprocess/naflex.js';
import type { RgbImage } from '../../preprocess/types.js';
import { GRAPH_LAYOUT_VERSION } from '../../graph/layout-version.js';
import type { WeightSink } from '../../graph/onnx-builder.js';
import type { GraphSource, RuntimeOptions, RuntimeSession } from '../../platform/ports.js';
import type { FamilyPorts } from '../types.js';
import { SentencePieceBpeTokenizer } from '../../tokenizer/sp-bpe-tokenizer.js';
import type { SafetensorsFile } from '../../weights/checkpoint-files.js';
import { WeightReader } from '../../weights/reader.js';
import { parseFgclip2Config, parseFgclip2Preprocess, type Fgclip2Config, type Fgclip2PreprocessConfig } from './config.js';
import {
  buildV2TextGraph,
  buildV2VisionGraph,
  positionIds,
  V2_DENSE_EMBEDS,
  V2_IMAGE_EMBEDS,
  V2_PIXEL_MASK,
  V2_PIXELS,
  V2_POSITION_IDS,
  V2_POSITION_WEIGHTS,
  V2_TEXT_EMBEDS,
  V2_TEXT_MASK,
  V2_TEXT_OUTPUTS,
  type Walk,
} from './graphs.js';
import { TokenTable } from './token-table.js';

export type { Walk } from './graphs.js';
export const WALKS: readonly Walk[] = ['short', 'box', 'long'];
const TOKEN_TABLE = 'text_model.embeddings.token_embedding.weight';
/** tensors the training code adds that inference never reads (train_fgclip2.py:554-555; dense_feature_head.probe unused) */
const TRAINING_ONLY = new Set(['logit_scale_finegraind', 'logit_scale_hardneg', 'thresholds']);

/**
 * How the model is loaded; the platform's ports (file reading, runtime, graph store — a cached load opens the two
 * graphs from the store and reads no weights into JavaScript —, image decoder) come separately (`FamilyPorts`; on
 * Node `nodePorts(dir, { graphCache, runtime })`).
 */
export interface Fgclip2LoadOptions extends RuntimeOptions {
  /** storage/compute of the encoders' linear layers: fp32 (exact, default), fp16 (half the graph bytes), int8 */
  readonly dtype?: LinearDtype;
  readonly onWarning?: (message: string) => void;
}

/** Bump when the FG-CLIP 2 graphs built from the same weights change (keys the graph cache with the shared version). */
const V2_GRAPH_LAYOUT = 'fgclip2-1';

interface V2Sessions {
  readonly text: RuntimeSession;
  readonly vision: RuntimeSession;
  readonly logitScale: number;
  readonly logitBias: number;
  readonly unknownTensors: readonly string[];
  readonly fromGraphCache: boolean;
}

export interface TextOptions {
  /** short (64 tokens, text_model.head), box (64, boxtext_head), long (196, longtext_head); default short */
  readonly walk?: Walk;
  /** Python `str.lower()` first, as the model card, eval and training code do (default true) */
  readonly lowercase?: boolean;
  /**
   * pass the tokenizer's attention mask to the text tower. Default: what the checkpoint's tokenizer_config.json
   * says (transformers returns a mask only when `model_input_names` lists it; SigLIP 2's settings do not).
   */
  readonly attentionMask?: boolean;
}

export interface ImageOptions {
  /**
   * patch budget: 'card' (default) = the model card's `max_num_patches=determine_max_value(image)` passed to the
   * checkpoint's processor (whose `dynamic_max_patches`, when true, applies the same bucket rule at its patch
   * size); 'processor' = the processor's own `max_num_patches`; a number = exactly that budget (e.g. 1024, the
   * ImageNet eval convention).
   */
  readonly maxNumPatches?: 'card' | 'processor' | number;
}

export interface ImageResult {
  readonly embedding: Float32Array;
  /** [h·w, D] dense rows of the image's own grid (only when asked) */
  readonly dense?: Float32Array;
  readonly grid: readonly [number, number];
  readonly imageSizeHw: readonly [number, number];
}

/** A JSON object file of the folder (through the file reading port); absent → undefined unless `required`. */
async function readJson(ports: FamilyPorts, name: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  const where = ports.folder.where(name);
  const text = await ports.folder.readText(name, { what: name, code: 'CONFIG_INVALID', maxBytes: 16 << 20 });
  if (text === undefined) {
    if (!required) return undefined;
    throw new FgClipError('CONFIG_INVALID', `${where}: cannot be read (no such file)`);
  }
  const v = parseJson(text, where, 'CONFIG_INVALID');
  if (!isObject(v)) throw new FgClipError('CONFIG_INVALID', `${where}: is not a valid JSON object (not a JSON object)`);
  return v;
}

export class Fgclip2Model {
  private disposed = false;

  private constructor(
    readonly dir: string,
    readonly config: Fgclip2Config,
    readonly preprocessConfig: Fgclip2PreprocessConfig,
    readonly tokenizer: SentencePieceBpeTokenizer,
    readonly logitScale: number,
    readonly logitBias: number,
    /** the token table, rows read from model.safetensors on demand */
    readonly tokens: TokenTable,
    private readonly text: RuntimeSession,
    private readonly vision: RuntimeSession,
    /** checkpoint tensors the model does not use (training-only scalars are expected and not listed) */
    readonly unknownTensors: readonly string[],
    /** the graphs came from the graph cache (no weights were read into JavaScript) */
    readonly fromGraphCache: boolean,
    /** decodes the paths and bytes `encodeImages` takes (image decoding port); undefined: RGB images only */
    private readonly decoder: FamilyPorts['decoder'],
  ) {}

  /** Loads the checkpoint folder `ports.dir` through the platform's ports (Node: `nodePorts(dir, options)`). */
  static async load(ports: FamilyPorts, opts: Fgclip2LoadOptions = {}): Promise<Fgclip2Model> {
    const { dir } = ports;
    const configPath = ports.folder.where('config.json');
    const config = parseFgclip2Config(await readJson(ports, 'config.json', true), configPath);
    const preprocessPath = ports.folder.where('preprocessor_config.json');
    const preprocessConfig = parseFgclip2Preprocess(await readJson(ports, 'preprocessor_config.json', false), preprocessPath, config.vision_config.patch_size);
    const tokenizer = await SentencePieceBpeTokenizer.fromFolder(ports.folder);
    // through the checkpoint reading port (Node: by path; the browser: a Blob)
    const weights = await ports.checkpoint.safetensors('model.safetensors');
    const weightsPath = weights.where;
    const header = weights.header;
    const tableEntry = header.tensors.find((t) => t.name === TOKEN_TABLE);
    if (tableEntry === undefined)
      throw new FgClipError('WEIGHTS_MISSING', `${weightsPath}: tensor ${JSON.stringify(TOKEN_TABLE)} is missing. Is this an FG-CLIP 2 checkpoint?`);
    const tc = config.text_config;
    if (tableEntry.shape[0] !== tc.vocab_size || tableEntry.shape[1] !== tc.hidden_size) {
      throw new FgClipError(
        'WEIGHTS_SHAPE',
        `${weightsPath}: ${TOKEN_TABLE} has shape [${tableEntry.shape.join(', ')}] (expected [${tc.vocab_size}, ${tc.hidden_size}])`,
      );
    }
    if (tokenizer.vocabSize > tc.vocab_size) {
      throw new FgClipError('CONFIG_INVALID', `${dir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's table only ${tc.vocab_size} rows`);
    }
    let sessions: V2Sessions;
    try {
      sessions = await v2Sessions(ports, config, weights, opts);
    } catch (e) {
      weights.close();
      throw e;
    }
    return new Fgclip2Model(
      dir,
      config,
      preprocessConfig,
      tokenizer,
      sessions.logitScale,
      sessions.logitBias,
      new TokenTable(weights, tableEntry),
      sessions.text,
      sessions.vision,
      sessions.unknownTensors,
      sessions.fromGraphCache,
      ports.decoder,
    );
  }

  get embeddingDim(): number {
    return this.config.text_config.hidden_size;
  }

  /** token length of a walk: 64 for short/box, 196 for long */
  textLength(walk: Walk): number {
    return walk === 'long' ? this.config.text_config.longtext_len : this.config.text_config.max_position_embeddings;
  }

  private check(): void {
    if (this.disposed) throw new FgClipError('DISPOSED', 'Fgclip2Model: the model was disposed');
  }

  /** Raw text features (not normalized) for one walk, in input order. */
  async encodeTexts(texts: readonly string[], opts: TextOptions = {}): Promise<Float32Array[]> {
    this.check();
    const walk = opts.walk ?? 'short';
    if (!WALKS.includes(walk)) throw new FgClipError('INPUT_INVALID', `encodeTexts: walk must be short, box or long (got ${JSON.stringify(walk)})`);
    if (!Array.isArray(texts) || texts.length === 0) throw new FgClipError('INPUT_INVALID', 'encodeTexts: expected a non-empty array of strings');
    const L = this.textLength(walk);
    const lower = opts.lowercase ?? true;
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new FgClipError('INPUT_INVALID', `encodeTexts: texts[${i}] must be a string`);
    });
    const encs = this.tokenizer.encodeBatch(
      texts.map((t) => (lower ? t.toLowerCase() : t)),
      { maxLength: L },
    );
    const useMask = opts.attentionMask ?? this.tokenizer.returnsAttentionMask;
    return this.runIds(
      encs.map((e) => e.ids),
      walk,
      useMask ? encs.map((e) => e.attentionMask) : undefined,
    );
  }

  /** Text tower on token rows of one walk's length; `masks` (1 keep / 0 pad) when the tokenizer returns one. */
  async runIds(ids: readonly (readonly number[])[], walk: Walk, masks?: readonly (readonly number[])[]): Promise<Float32Array[]> {
    this.check();
    const B = ids.length;
    if (B === 0) throw new FgClipError('INPUT_INVALID', 'text: the list of token rows is empty');
    // long: exactly longtext_len rows (the ori/res masks are that long); short/box: up to the short table's rows
    const L = walk === 'long' ? this.textLength(walk) : ids[0].length;
    if (L < 1 || L > this.textLength(walk))
      throw new FgClipError('INPUT_INVALID', `text: the ${walk} walk takes 1..${this.textLength(walk)} tokens per row (got ${L})`);
    const D = this.embeddingDim;
    const emb = new Float32Array(B * L * D);
    const mask = new Float32Array(B * L).fill(1);
    ids.forEach((row, b) => {
      if (row.length !== L)
        throw new FgClipError(
          'INPUT_INVALID',
          `text row ${b}: expected ${L} tokens like the other rows${walk === 'long' ? ' (the long walk takes exactly this many)' : ''} (got ${row.length}); pad with padding="max_length"`,
        );
      this.tokens.gather(row, emb, b * L * D);
      if (masks) mask.set(masks[b], b * L);
    });
    const out = await this.text.run({
      [V2_TEXT_EMBEDS]: { type: 'float32', data: emb, dims: [B, L, D] },
      [V2_POSITION_IDS]: { type: 'int64', data: positionIds(this.config, walk, L), dims: [L] },
      [V2_TEXT_MASK]: { type: 'float32', data: mask, dims: [B, L] },
    });
    const data = out[V2_TEXT_OUTPUTS[walk]].data as Float32Array;
    return Array.from({ length: B }, (_, b) => data.slice(b * D, (b + 1) * D));
  }

  /** NaFlex preprocessing of one decoded image with the budget rule of `opts.maxNumPatches`. */
  preprocess(img: RgbImage, opts: ImageOptions = {}): NaflexImage {
    const pc = this.preprocessConfig;
    const choice = opts.maxNumPatches ?? 'card';
    const fixed = typeof choice === 'number';
    if (fixed && (!Number.isSafeInteger(choice) || choice < 1))
      throw new FgClipError('INPUT_INVALID', `maxNumPatches must be a positive integer, 'card' or 'processor' (got ${JSON.stringify(choice)})`);
    if (!fixed && choice !== 'card' && choice !== 'processor')
      throw new FgClipError('INPUT_INVALID', `maxNumPatches must be a positive integer, 'card' or 'processor' (got ${JSON.stringify(choice)})`);
    const requested = fixed ? choice : choice === 'card' ? dynamicMaxPatches(img.width, img.height, 16) : pc.max_num_patches;
    return naflexPreprocess(img, {
      patchSize: pc.patch_size,
      maxNumPatches: requested,
      dynamic: !fixed && pc.dynamic_max_patches,
      rescaleFactor: pc.do_rescale ? pc.rescale_factor : 1,
      mean: pc.do_normalize ? pc.image_mean : [0, 0, 0],
      std: pc.do_normalize ? pc.image_std : [1, 1, 1],
    });
  }

  /** Runs the vision graph on preprocessed images (padded to the largest budget in the batch; exact). */
  async encodePreprocessed(items: readonly NaflexImage[], wantDense = false): Promise<ImageResult[]> {
    this.check();
    if (items.length === 0) throw new FgClipError('INPUT_INVALID', 'encodeImages: expected at least one image');
    const p = this.config.vision_config.patch_size;
    const row = 3 * p * p;
    const G2 = this.config.vision_config.num_patches;
    const D = this.embeddingDim;
    const B = items.length;
    const N = Math.max(...items.map((x) => x.maxNumPatches));
    const px = new Float32Array(B * N * row);
    const mask = new Float32Array(B * N);
    const posW = new Float32Array(B * N * G2);
    items.forEach((x, b) => {
      if (x.patchSize !== p) throw new FgClipError('INPUT_INVALID', `encodeImages: image ${b} was patchified at ${x.patchSize} (the model's patch is ${p})`);
      px.set(x.pixelValues, b * N * row);
      for (let i = 0; i < x.maxNumPatches; i++) mask[b * N + i] = x.mask[i];
      posW.set(positionResizeMatrix(this.config.grid, x.spatialShape[0], x.spatialShape[1], N), b * N * G2);
    });
    const out = await this.vision.run({
      [V2_PIXELS]: { type: 'float32', data: px, dims: [B, N, row] },
      [V2_PIXEL_MASK]: { type: 'float32', data: mask, dims: [B, N] },
      [V2_POSITION_WEIGHTS]: { type: 'float32', data: posW, dims: [B, N, G2] },
    });
    const img = out[V2_IMAGE_EMBEDS].data as Float32Array;
    const dense = out[V2_DENSE_EMBEDS].data as Float32Array;
    return items.map((x, b) => {
      const [h, w] = x.spatialShape;
      return {
        embedding: img.slice(b * D, (b + 1) * D),
        dense: wantDense ? dense.slice(b * N * D, (b * N + h * w) * D) : undefined,
        grid: [h, w] as const,
        imageSizeHw: x.imageSizeHw,
      };
    });
  }

  /** Decodes (paths or bytes, or already-decoded RGB images) and encodes; `dense` adds the dense rows. */
  async encodeImages(images: readonly (string | Uint8Array | RgbImage)[], opts: ImageOptions & { dense?: boolean } = {}): Promise<ImageResult[]> {
    this.check();
    const decoder = this.decoder;
    const decoded = await Promise.all(
      images.map((x) => {
        if (typeof x !== 'string' && !(x instanceof Uint8Array)) return x;
        if (!decoder) throw new FgClipError('INPUT_INVALID', 'encodeImages: this model was loaded without an image decoder; pass decoded RGB images');
        return decodeInput(decoder, x);
      }),
    );
    return this.encodePreprocessed(
      decoded.map((d) => this.preprocess(d, opts)),
      opts.dense ?? false,
    );
  }

  /**
   * Region features (get_image_region_features): boxes in the original image's pixels [x1, y1, x2, y2], mapped to
   * the image's own h×w grid as x·w/W, y·h/H, then RoIAlign 1×1 (aligned, adaptive sampling). Raw, not normalized.
   */
  regionFeatures(result: ImageResult, boxes: readonly (readonly [number, number, number, number])[]): Float32Array[] {
    if (result.dense === undefined) throw new FgClipError('INPUT_INVALID', 'regionFeatures: encode the image with { dense: true } first');
    const [h, w] = result.grid;
    const [H, W] = result.imageSizeHw;
    const grid: GridBox[] = boxes.map((b, i) => {
      if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => Number.isFinite(v)))
        throw new FgClipError('BOX_INVALID', `regionFeatures: box ${i} must be [x1, y1, x2, y2] finite pixels (got ${JSON.stringify(b)})`);
      return [(b[0] / W) * w, (b[1] / H) * h, (b[2] / W) * w, (b[3] / H) * h];
    });
    return roiAlign1x1(result.dense, h, w, this.embeddingDim, grid);
  }

  /** logits = exp(logit_scale)·cos + logit_bias for each (image, text) pair; probabilities = sigmoid(logits). */
  scores(images: readonly Float32Array[], texts: readonly Float32Array[]): { logits: number[][]; probs: number[][] } {
    const t = Math.exp(this.logitScale);
    const ni = images.map(l2normalize);
    const nt = texts.map(l2normalize);
    const logits = ni.map((a) =>
      nt.map((b) => {
        let s = 0;
        for (let k = 0; k < a.length; k++) s += a[k] * b[k];
        return t * s + this.logitBias;
      }),
    );
    return { logits, probs: logits.map((r) => r.map((v) => 1 / (1 + Math.exp(-v)))) };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.tokens.close();
    await Promise.all([this.text.release(), this.vision.release()]);
  }
}

/**
 * Reads the checkpoint (all but the token table, which stays on disk) and builds the two graphs; `sinks` stream the
 * graphs' weights to files (the graph cache) instead of memory.
 */
async function buildV2Graphs(
  config: Fgclip2Config,
  weights: SafetensorsFile,
  dtype: LinearDtype | undefined,
  sinks?: { vision: WeightSink; text: WeightSink },
) {
  const weightsPath = weights.where;
  const tensors = await weights.read((n) => n !== TOKEN_TABLE && !TRAINING_ONLY.has(n));
  // the scoped weight reader records every read: every missing and mis-shaped tensor in one error, and what nothing read
  const w = new WeightReader(tensors, weightsPath);
  const vision = buildV2VisionGraph(config, w, { dtype, sink: sinks?.vision });
  const text = buildV2TextGraph(config, w, { dtype, sink: sinks?.text });
  const logitScale = w.get('logit_scale', [1])[0];
  const logitBias = w.get('logit_bias', [1])[0];
  w.check('Is this an FG-CLIP 2 checkpoint, with the config.json that came with its weights?');
  // the dense head's probe is in the checkpoint, but the reference's dense features never use it
  const unknownTensors = w.unused().filter((n) => n !== 'dense_feature_head.probe');
  return { vision, text, logitScale, logitBias, unknownTensors };
}

/**
 * The two sessions, opened by the injected runtime (`ports.runtime`): from the graph store (`ports.graphStore`) when
 * it holds this checkpoint's graphs, else built (and, with a store, written there first and opened from it, so the
 * built weights are never held in memory twice). The stored entry's tables hold the two host-side scalars FG-CLIP 2
 * needs, [logit_scale, logit_bias] (no position tables leave the graph in this family).
 */
async function v2Sessions(ports: FamilyPorts, config: Fgclip2Config, weights: SafetensorsFile, opts: Fgclip2LoadOptions): Promise<V2Sessions> {
  const { runtime, graphStore } = ports;
  const dtype = opts.dtype ?? 'fp32';
  const S = config.grid * config.vision_config.patch_size;
  const open = (g: { text: GraphSource; vision: GraphSource }) =>
    Promise.all([runtime.open('fgclip2 text', g.text, opts), runtime.open('fgclip2 vision', g.vision, opts)]);
  const entry = graphStore && (await graphStore.entry({ dtype: `${V2_GRAPH_LAYOUT}-${dtype}`, imageSize: S }));
  const hit = entry && (await entry.read(opts.onWarning));
  if (hit && hit.tables.length === 2) {
    const [text, vision] = await open(hit);
    return { text, vision, logitScale: hit.tables[0], logitBias: hit.tables[1], unknownTensors: hit.meta.unknownTensors, fromGraphCache: true };
  }
  const staging = await entry?.stage();
  if (entry && staging) {
    let built: { text: GraphSource; vision: GraphSource };
    let g: Awaited<ReturnType<typeof buildV2Graphs>>;
    try {
      g = await buildV2Graphs(config, weights, opts.dtype, { vision: staging.sink(`vision-${S}`), text: staging.sink('text') });
      staging.writeModel(`vision-${S}`, g.vision);
      staging.writeModel('text', g.text);
      built = await staging.commit([Float32Array.of(g.logitScale, g.logitBias), new Float32Array(0)], {
        version: GRAPH_LAYOUT_VERSION,
        logitScaleLog: g.logitScale,
        unknownTensors: g.unknownTensors,
        tableSizes: [2, 0],
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
      const [text, vision] = await open(built);
      return { text, vision, logitScale: g.logitScale, logitBias: g.logitBias, unknownTensors: g.unknownTensors, fromGraphCache: false };
    } finally {
      staging.release();
    }
  }
  if (entry) opts.onWarning?.(`graph cache: cannot create ${entry.location}; building in memory (set FGCLIP_CACHE to a writable folder)`);
  const g = await buildV2Graphs(config, weights, opts.dtype);
  const [text, vision] = await open(g);
  return { text, vision, logitScale: g.logitScale, logitBias: g.logitBias, unknownTensors: g.unknownTensors, fromGraphCache: false };
}
