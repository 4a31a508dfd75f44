/**
 * The library's model handle: load once, run the vision and text towers on ONNX Runtime, dispose explicitly.
 * The `get*` methods mirror the model card (FGCLIPModel in fgclip.py) and return raw, un-normalized features;
 * the `encode*` methods are the convenient layer (files or buffers in, normalized vectors out by default).
 */
import { loadConfig, loadPreprocessConfig } from '../config/index.js';
import type { FgClipConfig, PreprocessConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import type { LinearDtype, WeightSource } from '../graph/blocks.js';
import { buildTextGraph, TEXT_EMBEDS_LONG, TEXT_EMBEDS_SHORT, TEXT_INPUT_IDS, TEXT_MASK, TEXT_POOL_INDEX, TEXT_POSITIONS } from '../families/fgclip/text-graph.js';
import { buildVisionGraph, DENSE_EMBEDS, IMAGE_EMBEDS, VISION_INPUT } from '../families/fgclip/vision-graph.js';
import { resolveModelDir, type HubOptions } from '../hub/index.js';
import { interpolatePositionEmbedding } from '../postprocess/position-interpolation.js';
import { roiAlign1x1, type GridBox } from '../postprocess/roi-align.js';
import { l2normalize, probabilities } from '../postprocess/similarity.js';
import { decodeImage, preprocessImage, type DecodeOptions, type RgbImage } from '../preprocess/index.js';
import { createSession, createSessionFromFile, defaultThreads, ort, runSession, sessionOptions, type RuntimeOptions } from '../runtime/session.js';
import { createPreprocessPool, type PreprocessPool } from '../pipeline/index.js';
import { graphCacheEntry, GRAPH_LAYOUT_VERSION, readCached, Staging } from '../cache/graph-cache.js';
import { ClipTokenizer } from '../tokenizer/index.js';
import { loadCheckpoint } from '../weights/index.js';
import type { TensorMap } from '../weights/types.js';
import { boxesToGrid, type PixelBox } from './boxes.js';
import { buildLongPositions, prepareTextBatch, type TextMode, type TextTables } from '../families/fgclip/text-inputs.js';

export type ImageInput = string | Uint8Array | RgbImage;
export type TextModeOption = TextMode | 'auto';
export type PreprocessMode = 'squash' | 'crop';

export interface LoadOptions extends RuntimeOptions {
  /** hub options when `model` is a repo id (revision, cache, token, offline, progress) */
  readonly hub?: HubOptions;
  readonly revision?: string;
  /** image flow: the model card's square squash (default) or CLIPImageProcessor's shortest-edge + center crop */
  readonly preprocess?: PreprocessMode;
  /** decompression-bomb guard for decoding, in pixels */
  readonly maxPixels?: number;
  /** apply EXIF orientation when decoding (Pillow does not; default false) */
  readonly autoOrient?: boolean;
  /** run the vision tower at another square resolution (position embeddings interpolated, PyTorch bicubic) */
  readonly imageSize?: number;
  /**
   * encoder linear layers: 'fp32' (default, exact), 'int8' (dynamic quantization, faster, approximate) or
   * 'fp16' (half-size weights in the built graph; computed in float32)
   */
  readonly dtype?: LinearDtype;
  /**
   * on-disk cache of the built graphs (default true: under FGCLIP_CACHE / ~/.cache/fgclip); a string names the
   * cache folder; false builds in memory every time
   */
  readonly graphCache?: boolean | string;
  /**
   * worker threads decoding and resizing images while the model runs (default: all cores; 0 keeps everything on
   * the calling thread). Used when one call encodes more than one batch.
   */
  readonly preprocessWorkers?: number;
  /** images per ONNX Runtime call (default 8) */
  readonly batchSize?: number;
  /** receives non-fatal notices (unknown tensors in the checkpoint, ...) */
  readonly onWarning?: (message: string) => void;
}

export interface EncodeImageOptions {
  /** L2-normalize outputs (default true); false gives the reference's raw features */
  readonly normalize?: boolean;
  /** also return the dense per-patch features */
  readonly dense?: boolean;
  /** per image, boxes in original-image pixels [x1, y1, x2, y2]: returns one region feature per box */
  readonly boxes?: readonly (readonly PixelBox[])[];
}

export interface ImageEncoding {
  readonly embedding: Float32Array; // [P]
  readonly width: number; // original image size, pixels
  readonly height: number;
  readonly grid: readonly [number, number]; // [h, w] patch grid
  readonly dense?: Float32Array[]; // gridH*gridW vectors, row-major
  readonly regions?: Float32Array[];
}

export interface EncodeTextOptions {
  /** 'auto' (default): short when the caption fits in 77 tokens, long otherwise */
  readonly mode?: TextModeOption;
  readonly normalize?: boolean;
}

export interface TextEncoding {
  readonly embeddings: Float32Array[];
  readonly modes: TextMode[];
  /** whether each caption was cut to fit its mode's length (77 or 248 tokens including bos/eos) */
  readonly truncated: boolean[];
  /** tokens each caption has, bos/eos included, before truncation */
  readonly tokenCounts: number[];
}

export class FgClip {
  private disposed = false;
  private pool: Promise<PreprocessPool> | undefined;

  private constructor(
    readonly modelDir: string,
    readonly config: FgClipConfig,
    readonly preprocessConfig: PreprocessConfig,
    readonly tokenizer: ClipTokenizer,
    /** the stored log-scale (`logit_scale`) */
    readonly logitScaleLog: number,
    /** tensors in the checkpoint that FG-CLIP does not use */
    readonly unknownTensors: readonly string[],
    /** whether the graphs came from the on-disk graph cache */
    readonly fromGraphCache: boolean,
    private readonly options: LoadOptions,
    private readonly textTables: TextTables,
    private readonly textSession: ort.InferenceSession,
    private readonly visionSessionHandle: ort.InferenceSession,
  ) {}

  /** Loads a local folder in the Hugging Face layout, or a Hub repo id (downloaded into the HF cache). */
  static async load(model: string, options: LoadOptions = {}): Promise<FgClip> {
    sessionOptions(options); // validates threads / provider before any work
    const dir = await resolveModelDir(model, { ...options.hub, revision: options.revision ?? options.hub?.revision });
    const config = await loadConfig(dir);
    const preprocessConfig = await loadPreprocessConfig(dir, config, options.onWarning ?? (() => undefined));
    const tokenizer = await ClipTokenizer.fromModelDir(dir);
    const dtype = options.dtype ?? 'fp32';
    if (dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'int8') throw new FgClipError('INPUT_INVALID', `dtype: expected fp32, fp16 or int8 (got ${String(dtype)})`);
    const vc = config.vision_config;
    const S = options.imageSize ?? vc.image_size;
    if (!Number.isInteger(S) || S <= 0 || S % vc.patch_size !== 0) {
      throw new FgClipError('INPUT_INVALID', `imageSize: expected a positive multiple of the patch size ${vc.patch_size} (got ${S})`);
    }
    const D = config.text_config.hidden_size;
    const cacheOpt = options.graphCache ?? true;
    const entry = cacheOpt === false ? undefined : await graphCacheEntry(dir, { dtype, imageSize: S }, typeof cacheOpt === 'string' ? cacheOpt : undefined);
    const hit = entry && readCached(entry, S);
    if (entry && hit) {
      const [nShort] = hit.meta.tableSizes;
      const tables: TextTables = { shortPositions: hit.tables.subarray(0, nShort), longPositions: hit.tables.subarray(nShort) };
      const text = await createSessionFromFile('text_model', entry.textModel, options);
      const vision = await createSessionFromFile('vision_model', entry.visionModel(S), options);
      return new FgClip(dir, config, preprocessConfig, tokenizer, hit.meta.logitScaleLog, hit.meta.unknownTensors, true, options, tables, text, vision);
    }

    const { tensors, unknown } = await loadCheckpoint(dir, config);
    if (unknown.length > 0) options.onWarning?.(`${dir}: ${unknown.length} tensor(s) not used by FG-CLIP: ${unknown.slice(0, 8).join(', ')}${unknown.length > 8 ? ', …' : ''}`);
    const ws = weightSource(tensors);
    const tables: TextTables = {
      shortPositions: ws.get('text_model.embeddings.position_embedding.weight', [config.text_config.max_position_embeddings, D]),
      longPositions: buildLongPositions(
        ws.get('text_model.embeddings.position_embedding_ori.weight', [config.long_max_length, D]),
        ws.get('text_model.embeddings.position_embedding_res.weight', [config.long_max_length, D]),
        D,
        config.long_keep_length,
      ),
    };
    const logitScaleLog = ws.get('logit_scale', [])[0];
    const g0 = vc.image_size / vc.patch_size;
    const positionEmbedding =
      S === vc.image_size ? undefined : interpolatePositionEmbedding(ws.get('vision_model.embeddings.position_embedding.weight', [g0 * g0 + 1, vc.hidden_size]), vc.hidden_size, S / vc.patch_size, S / vc.patch_size);
    // From here each tensor is dropped from the map once its graph copy exists, and with the graph cache the
    // copies stream to files: the checkpoint is never held twice while the graphs are built.
    const consuming = weightSource(tensors, true);
    const staging = entry ? Staging.start(entry) : undefined;
    let text: ort.InferenceSession;
    let vision: ort.InferenceSession;
    if (entry && staging) {
      try {
        const textGraph = buildTextGraph(config, consuming, dtype, staging.sink('text'));
        staging.writeModel('text', textGraph);
        const visionGraph = buildVisionGraph(config, consuming, { imageSize: S, positionEmbedding, dtype, sink: staging.sink(`vision-${S}`) });
        staging.writeModel(`vision-${S}`, visionGraph);
        tensors.clear();
        staging.commit([tables.shortPositions, tables.longPositions], {
          version: GRAPH_LAYOUT_VERSION,
          logitScaleLog,
          unknownTensors: unknown,
          tableSizes: [tables.shortPositions.length, tables.longPositions.length],
        });
      } catch (e) {
        staging.abort();
        if (e instanceof FgClipError) throw e;
        throw new FgClipError('RUNTIME', `graph cache: could not write ${entry.dir} (${e instanceof Error ? e.message : String(e)}). Set FGCLIP_CACHE to a writable folder, or load with graphCache: false.`, { cause: e });
      }
      text = await createSessionFromFile('text_model', entry.textModel, options);
      vision = await createSessionFromFile('vision_model', entry.visionModel(S), options);
    } else {
      if (entry) options.onWarning?.(`graph cache: cannot create ${entry.dir}; building in memory (set FGCLIP_CACHE to a writable folder)`);
      const textGraph = buildTextGraph(config, consuming, dtype);
      const visionGraph = buildVisionGraph(config, consuming, { imageSize: S, positionEmbedding, dtype });
      tensors.clear();
      text = await createSession('text_model', textGraph, options);
      vision = await createSession('vision_model', visionGraph, options);
    }
    return new FgClip(dir, config, preprocessConfig, tokenizer, logitScaleLog, unknown, false, options, tables, text, vision);
  }

  /** exp(logit_scale): the temperature the model card multiplies cosines by */
  get logitScale(): number {
    return Math.exp(this.logitScaleLog);
  }

  /** square input resolution of the vision tower */
  get imageSize(): number {
    return this.options.imageSize ?? this.config.vision_config.image_size;
  }

  get gridSize(): number {
    return this.imageSize / this.config.vision_config.patch_size;
  }

  // ---- model-card mirror (raw features) ------------------------------------------------------------------

  /** `get_image_features(pixel_values)`: [B, 3, S, S] float32 → B raw vectors */
  async getImageFeatures(pixelValues: Float32Array): Promise<Float32Array[]> {
    return (await this.runVision(pixelValues)).image;
  }

  /** `get_image_dense_features`: per image, gridH*gridW raw vectors (row-major patches) */
  async getImageDenseFeatures(pixelValues: Float32Array): Promise<Float32Array[][]> {
    return (await this.runVision(pixelValues)).dense;
  }

  /** `get_image_box_roi_features`: per image a list of boxes in grid units → one raw vector per box, flattened */
  async getImageBoxRoiFeatures(pixelValues: Float32Array, boxes: readonly (readonly GridBox[])[]): Promise<Float32Array[]> {
    const { dense } = await this.runVision(pixelValues);
    if (boxes.length !== dense.length) throw new FgClipError('INPUT_INVALID', `getImageBoxRoiFeatures: ${boxes.length} box lists for ${dense.length} images`);
    return dense.flatMap((d, i) => this.roi(d, boxes[i]));
  }

  /** `get_text_features(input_ids, walk_short_pos)`: rows of ids (≤77 short, exactly 248 long) → raw vectors */
  async getTextFeatures(inputIds: readonly (readonly number[])[], opts: { walkShortPos?: boolean } = {}): Promise<Float32Array[]> {
    return this.runText(inputIds, opts.walkShortPos ?? true ? 'short' : 'long');
  }

  /** One vision pass: global embeddings and dense maps for a [B, 3, S, S] batch. */
  async runVision(pixelValues: Float32Array): Promise<{ image: Float32Array[]; dense: Float32Array[][] }> {
    this.checkAlive();
    const S = this.imageSize;
    const per = 3 * S * S;
    if (pixelValues.length === 0 || pixelValues.length % per !== 0) {
      throw new FgClipError('INPUT_INVALID', `pixel values: expected a multiple of 3*${S}*${S} = ${per} floats (got ${pixelValues.length})`);
    }
    const B = pixelValues.length / per;
    const out = await runSession('vision_model', this.visionSessionHandle, { [VISION_INPUT]: new ort.Tensor('float32', pixelValues, [B, 3, S, S]) });
    const P = this.config.projection_dim;
    const N = this.gridSize * this.gridSize;
    const img = out[IMAGE_EMBEDS].data as Float32Array;
    const den = out[DENSE_EMBEDS].data as Float32Array;
    const image = Array.from({ length: B }, (_, b) => img.slice(b * P, (b + 1) * P));
    const dense = Array.from({ length: B }, (_, b) => Array.from({ length: N }, (_, n) => den.slice((b * N + n) * P, (b * N + n + 1) * P)));
    return { image, dense };
  }

  /** Runs the text tower; `cut` (default) stops at the batch's last end token, which is exact (causal mask). */
  async runText(inputIds: readonly (readonly number[])[], mode: TextMode, cut = true): Promise<Float32Array[]> {
    this.checkAlive();
    if (inputIds.length === 0) throw new FgClipError('INPUT_INVALID', 'text: the list of token rows is empty');
    const batch = prepareTextBatch(this.config, this.textTables, inputIds, mode, cut);
    const D = this.config.text_config.hidden_size;
    const out = await runSession('text_model', this.textSession, {
      [TEXT_INPUT_IDS]: new ort.Tensor('int64', batch.ids, [batch.B, batch.T]),
      [TEXT_POSITIONS]: new ort.Tensor('float32', batch.positions, [batch.T, D]),
      [TEXT_MASK]: new ort.Tensor('float32', batch.mask, [batch.T, batch.T]),
      [TEXT_POOL_INDEX]: new ort.Tensor('int64', batch.poolIndex, [batch.B]),
    });
    const f = out[mode === 'short' ? TEXT_EMBEDS_SHORT : TEXT_EMBEDS_LONG].data as Float32Array;
    const P = this.config.projection_dim;
    return Array.from({ length: batch.B }, (_, b) => f.slice(b * P, (b + 1) * P));
  }

  // ---- convenient layer ------------------------------------------------------------------------------------

  /** Decodes and preprocesses one image (the configured flow) → its pixel values and original size. */
  async preprocess(input: ImageInput): Promise<{ pixels: Float32Array; width: number; height: number }> {
    const img = isRgb(input) ? input : await decodeImage(input, this.decodeOptions());
    const pixels = preprocessImage(img, {
      size: this.imageSize,
      mode: this.options.preprocess ?? 'squash',
      mean: this.preprocessConfig.image_mean,
      std: this.preprocessConfig.image_std,
      rescaleFactor: this.preprocessConfig.rescale_factor,
    });
    return { pixels, width: img.width, height: img.height };
  }

  decodeOptions(): DecodeOptions {
    return { maxPixels: this.options.maxPixels, autoOrient: this.options.autoOrient };
  }

  async encodeImages(inputs: readonly ImageInput[], opts: EncodeImageOptions = {}): Promise<ImageEncoding[]> {
    this.checkAlive();
    if (inputs.length === 0) throw new FgClipError('INPUT_INVALID', 'encodeImages: the list of images is empty');
    if (opts.boxes && opts.boxes.length !== inputs.length) throw new FgClipError('INPUT_INVALID', `encodeImages: ${opts.boxes.length} box lists for ${inputs.length} images`);
    const bs = this.options.batchSize ?? 8;
    const results: ImageEncoding[] = [];
    let batch: { pixels: Float32Array; width: number; height: number }[] = [];
    const flush = async () => {
      const start = results.length;
      const per = batch[0].pixels.length;
      const px = new Float32Array(per * batch.length);
      batch.forEach((p, i) => px.set(p.pixels, i * per));
      const grids = batch.map((p, i) => (opts.boxes ? boxesToGrid(opts.boxes[start + i], p.width, p.height, this.gridSize, `image ${start + i}`) : []));
      const { image, dense } = await this.runVision(px);
      batch.forEach((p, i) => results.push(this.imageResult(p, image[i], dense[i], grids[i], opts)));
      batch = [];
    };
    for await (const p of this.preprocessAll(inputs)) {
      batch.push(p);
      if (batch.length === bs) await flush();
    }
    if (batch.length > 0) await flush();
    return results;
  }

  /**
   * Preprocessed images in input order. More than one batch goes through the worker pool, so decoding and resizing
   * the next images overlaps inference on the current batch; a failing image rejects the whole call (typed error).
   */
  private async *preprocessAll(inputs: readonly ImageInput[]): AsyncGenerator<{ pixels: Float32Array; width: number; height: number }> {
    const workers = this.options.preprocessWorkers ?? defaultThreads();
    if (workers === 0 || inputs.length <= (this.options.batchSize ?? 8)) {
      for (const x of inputs) yield await this.preprocess(x);
      return;
    }
    this.pool ??= createPreprocessPool({
      threads: workers,
      size: this.imageSize,
      mode: this.options.preprocess ?? 'squash',
      mean: this.preprocessConfig.image_mean,
      std: this.preprocessConfig.image_std,
      rescaleFactor: this.preprocessConfig.rescale_factor,
      maxPixels: this.options.maxPixels,
      autoOrient: this.options.autoOrient,
      maxInFlight: 2 * (this.options.batchSize ?? 8),
    });
    const pool = await this.pool;
    for await (const r of pool.map(inputs)) {
      if (!r.ok) throw r.error;
      yield r;
    }
  }

  private imageResult(p: { width: number; height: number }, image: Float32Array, dense: Float32Array[], grid: GridBox[], opts: EncodeImageOptions): ImageEncoding {
    const norm = opts.normalize ?? true;
    const f = (v: Float32Array) => (norm ? l2normalize(v) : v);
    const g = this.gridSize;
    return {
      embedding: f(image),
      width: p.width,
      height: p.height,
      grid: [g, g],
      ...(opts.dense ? { dense: dense.map(f) } : {}),
      ...(opts.boxes ? { regions: this.roi(dense, grid).map(f) } : {}),
    };
  }

  async encodeTexts(texts: readonly string[], opts: EncodeTextOptions = {}): Promise<TextEncoding> {
    this.checkAlive();
    if (!Array.isArray(texts) || texts.length === 0) throw new FgClipError('INPUT_INVALID', 'encodeTexts: the list of texts is empty');
    const modeOpt = opts.mode ?? 'auto';
    if (modeOpt !== 'auto' && modeOpt !== 'short' && modeOpt !== 'long') throw new FgClipError('INPUT_INVALID', `encodeTexts: mode must be 'short', 'long' or 'auto' (got ${String(modeOpt)})`);
    const shortLen = this.config.text_config.max_position_embeddings;
    const longLen = this.config.long_max_length;
    const tokenCounts = texts.map((t) => this.tokenizer.countTokens(t));
    const modes: TextMode[] = tokenCounts.map((n) => (modeOpt === 'auto' ? (n <= shortLen ? 'short' : 'long') : modeOpt));
    const embeddings: Float32Array[] = new Array(texts.length);
    const bs = Math.max(this.options.batchSize ?? 8, 16);
    for (const mode of ['short', 'long'] as const) {
      // shortest first, so each batch is cut near its own length
      const idx = modes.map((m, i) => (m === mode ? i : -1)).filter((i) => i >= 0).sort((a, b) => tokenCounts[a] - tokenCounts[b]);
      const maxLength = mode === 'short' ? shortLen : longLen;
      for (let s = 0; s < idx.length; s += bs) {
        const part = idx.slice(s, s + bs);
        const ids = part.map((i) => this.tokenizer.encode(texts[i], { maxLength }).ids);
        const out = await this.runText(ids, mode);
        part.forEach((i, k) => (embeddings[i] = opts.normalize ?? true ? l2normalize(out[k]) : out[k]));
      }
    }
    const truncated = tokenCounts.map((n, i) => n > (modes[i] === 'short' ? shortLen : longLen));
    return { embeddings, modes, truncated, tokenCounts };
  }

  /** The model card's probabilities for one image against texts (inputs normalized here). */
  probabilities(image: Float32Array, texts: readonly Float32Array[]): number[] {
    const i = l2normalize(image);
    return probabilities(texts.map((t) => dotNorm(i, t)), this.logitScale);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    void this.pool?.then((p) => p.close()).catch(() => undefined);
    void this.textSession.release().catch(() => undefined);
    void this.visionSessionHandle.release().catch(() => undefined);
  }

  private roi(dense: Float32Array[], boxes: readonly GridBox[]): Float32Array[] {
    if (boxes.length === 0) return [];
    const P = this.config.projection_dim;
    const g = this.gridSize;
    const flat = new Float32Array(dense.length * P);
    dense.forEach((v, i) => flat.set(v, i * P));
    return roiAlign1x1(flat, g, g, P, boxes);
  }

  private checkAlive(): void {
    if (this.disposed) throw new FgClipError('DISPOSED', 'FgClip: the model was disposed; load it again');
  }
}

function dotNorm(a: Float32Array, b: Float32Array): number {
  const n = l2normalize(b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * n[i];
  return s;
}

function isRgb(x: ImageInput): x is RgbImage {
  return typeof x === 'object' && !(x instanceof Uint8Array) && 'data' in x && 'width' in x;
}

/** Shape-checked access to loaded tensors; `consume` removes each tensor from the map when it is read. */
export function weightSource(t: TensorMap, consume = false): WeightSource {
  return {
    get(name, shape) {
      const x = t.get(name);
      if (consume) t.delete(name);
      if (!x) throw new FgClipError('WEIGHTS_MISSING', `checkpoint: tensor ${name} is missing`);
      const n = shape.reduce((a, b) => a * b, 1);
      if (x.data.length !== n) throw new FgClipError('WEIGHTS_SHAPE', `checkpoint: tensor ${name} has shape [${x.shape.join(', ')}], expected [${shape.join(', ')}]`);
      return x.data;
    },
  };
}
