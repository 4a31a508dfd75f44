/**
 * The library's model handle, for every model family: load once (the family is picked from config.json by
 * src/families/registry.ts and assembles its towers), batch, preprocess in a worker pool, normalise, dispose.
 * The `get*` methods mirror the model card (FGCLIPModel in fgclip.py) and return raw, un-normalized features; the
 * `encode*` methods are the convenient layer (files or buffers in, normalized vectors out by default) and make up
 * the `Encoder` interface (encoder.ts) that tasks, evaluation, the CLI and the server use.
 */
import type { PreprocessConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import { familyOf } from '../families/registry.js';
import type { FamilyModel, PreprocessMode, TextLengths, TextMode, TextTokenizer, VisionRunOptions } from '../families/types.js';

export type { PreprocessMode };
import type { LinearDtype } from '../graph/blocks.js';
import { resolveModelDir, type HubOptions } from '../hub/index.js';
import { createPreprocessPool, type PreprocessPool } from '../pipeline/index.js';
import type { GridBox } from '../postprocess/roi-align.js';
import { l2normalize, probabilities } from '../postprocess/similarity.js';
import { decodeInput } from '../preprocess/decode-input.js';
import { batchPixelValues, preprocessImage, type DecodeOptions, type RgbImage } from '../preprocess/index.js';
import { defaultThreads, sessionOptions, type RuntimeOptions } from '../runtime/session.js';
import { nodeImageDecoder } from '../platform/node/image-decoder.js';
import { nodePorts } from '../platform/node/ports.js';
import type { ImageDecoder, InferenceRuntime } from '../platform/ports.js';
import { boxesToGrid, regionFeatures } from './boxes.js';
import { encodeTextBatches } from './text-batches.js';
import { decodedImageEncoding, imageEncoding } from './image-encoding.js';
import type { EncodeImageOptions, EncodeTextOptions, Encoder, ImageEncoding, ImageInput, PreprocessedImage, TextEncoding } from './encoder.js';

export type { EncodeImageOptions, EncodeTextOptions, Encoder, ImageEncoding, ImageInput, PreprocessedImage, TextEncoding, TextModeOption } from './encoder.js';

export interface LoadOptions extends RuntimeOptions {
  /** hub options when `model` is a repo id (revision, cache, token, offline, progress) */
  readonly hub?: HubOptions;
  readonly revision?: string;
  /**
   * image flow: the model card's square squash or CLIPImageProcessor's shortest-edge + center crop (default: the
   * family's: squash for FG-CLIP, crop for CLIP)
   */
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
   * the calling thread). Used when one call encodes more than four batches (starting the workers costs more than
   * they save on fewer), and by every call once started; smaller calls decode one image ahead on the calling thread.
   */
  readonly preprocessWorkers?: number;
  /** images per ONNX Runtime call (default 8) */
  readonly batchSize?: number;
  /** receives non-fatal notices (unknown tensors in the checkpoint, ...) */
  readonly onWarning?: (message: string) => void;
  /** the ONNX Runtime the graphs run on (default: onnxruntime-node; the runtime port, src/platform/ports.ts) */
  readonly runtime?: InferenceRuntime;
  /**
   * how images are decoded (default: sharp with Pillow's convert("RGB") rules, `nodeImageDecoder`; the image decoding
   * port). The worker pool decodes with it when it names its module (`worker`), else images are decoded on the
   * calling thread and resized in the workers.
   */
  readonly decoder?: ImageDecoder;
}

/** What a handle is made of: where the model came from, its family's towers, and the options it was loaded with. */
export interface HandleParts {
  readonly modelDir: string;
  /** registry id of the family */
  readonly family: string;
  readonly towers: FamilyModel;
  readonly options: LoadOptions;
  /** the image decoding port's implementation (default `nodeImageDecoder`) */
  readonly decoder?: ImageDecoder;
}

export class FgClip implements Encoder {
  readonly modelDir: string;
  readonly family: string;
  private readonly towers: FamilyModel;
  private readonly options: LoadOptions;
  private readonly decoder: ImageDecoder;
  private disposed = false;
  private pool: Promise<PreprocessPool> | undefined;

  constructor(parts: HandleParts) {
    this.modelDir = parts.modelDir;
    this.family = parts.family;
    this.towers = parts.towers;
    this.options = parts.options;
    this.decoder = parts.decoder ?? nodeImageDecoder;
  }

  /** Loads a local folder in the Hugging Face layout, or a Hub repo id (downloaded into the HF cache). */
  static async load(model: string, options: LoadOptions = {}): Promise<FgClip> {
    sessionOptions(options); // validates threads / provider before any work
    const dtype = options.dtype ?? 'fp32';
    if (dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'int8')
      throw new FgClipError('INPUT_INVALID', `dtype: expected fp32, fp16 or int8 (got ${String(dtype)})`);
    const dir = await resolveModelDir(model, { ...options.hub, revision: options.revision ?? options.hub?.revision });
    const { family, config, configPath } = await familyOf(dir);
    // the Node composition root: the platform's port implementations, each replaceable through the options
    const ports = nodePorts(dir, options);
    const towers = await family.load({ ...ports, config, configPath, options });
    return new FgClip({ modelDir: dir, family: family.id, towers, options, decoder: ports.decoder });
  }

  /** the family's validated config.json (FgClipConfig for 'fgclip') */
  get config(): unknown {
    return this.towers.config;
  }

  /** the image flow in use */
  get preprocessMode(): PreprocessMode {
    return this.options.preprocess ?? this.towers.defaultPreprocess ?? 'squash';
  }

  get preprocessConfig(): PreprocessConfig {
    return this.towers.preprocessConfig;
  }

  get tokenizer(): TextTokenizer {
    return this.towers.tokenizer;
  }

  get embeddingDim(): number {
    return this.towers.embeddingDim;
  }

  get textLengths(): TextLengths {
    return this.towers.textLengths;
  }

  /** the stored log-scale (`logit_scale`) */
  get logitScaleLog(): number {
    return this.towers.logitScaleLog;
  }

  /** tensors in the checkpoint that the family does not use */
  get unknownTensors(): readonly string[] {
    return this.towers.unknownTensors;
  }

  /** whether the graphs came from the on-disk graph cache */
  get fromGraphCache(): boolean {
    return this.towers.fromGraphCache;
  }

  /** exp(logit_scale): the temperature the model card multiplies cosines by */
  get logitScale(): number {
    return Math.exp(this.towers.logitScaleLog);
  }

  /** square input resolution of the vision tower */
  get imageSize(): number {
    return this.towers.imageSize;
  }

  get gridSize(): number {
    return this.towers.grid[0];
  }

  // ---- model-card mirror (raw features) ------------------------------------------------------------------

  /** `get_image_features(pixel_values)`: [B, 3, S, S] float32 → B raw vectors (the dense branch is not run) */
  async getImageFeatures(pixelValues: Float32Array): Promise<Float32Array[]> {
    return (await this.runVision(pixelValues, { dense: false })).image;
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
    return this.runText(inputIds, (opts.walkShortPos ?? true) ? 'short' : 'long');
  }

  /**
   * One vision pass: global embeddings and dense maps for a [B, 3, S, S] batch. `{ dense: false }` runs the
   * global path alone (no dense branch: faster, same embeddings; `dense` is then an empty list per image).
   */
  async runVision(pixelValues: Float32Array, opts: VisionRunOptions = {}): Promise<{ image: Float32Array[]; dense: Float32Array[][] }> {
    this.checkAlive();
    const S = this.imageSize;
    const per = 3 * S * S;
    if (pixelValues.length === 0 || pixelValues.length % per !== 0) {
      throw new FgClipError('INPUT_INVALID', `pixel values: expected a multiple of 3*${S}*${S} = ${per} floats (got ${pixelValues.length})`);
    }
    return this.towers.runVision(pixelValues, pixelValues.length / per, opts);
  }

  /** Runs the text tower; `cut` (default) stops at the batch's last end token, which is exact (causal mask). */
  async runText(inputIds: readonly (readonly number[])[], mode: TextMode, cut = true): Promise<Float32Array[]> {
    this.checkAlive();
    if (inputIds.length === 0) throw new FgClipError('INPUT_INVALID', 'text: the list of token rows is empty');
    if (mode === 'long' && this.textLengths.long === undefined)
      throw new FgClipError('INPUT_INVALID', `text: this ${this.family} model has no long-caption path (only short, ${this.textLengths.short} tokens)`);
    if (mode === 'box' && this.textLengths.box === undefined)
      throw new FgClipError('INPUT_INVALID', `text: this ${this.family} model has no box (region-text) path`);
    return this.towers.runText(inputIds, mode, cut);
  }

  // ---- convenient layer ------------------------------------------------------------------------------------

  /** Decodes and preprocesses one image (the configured flow) → its pixel values and original size. */
  async preprocess(input: ImageInput): Promise<PreprocessedImage> {
    return this.preprocessDecoded(await this.decode(input));
  }

  /** Decodes one image (path, bytes or RGB) with the model's decoder and decode options. */
  decode(input: ImageInput): Promise<RgbImage> {
    return decodeInput(this.decoder, input, this.decodeOptions());
  }

  /** The configured flow (resize, rescale, normalize) on a decoded image. */
  private preprocessDecoded(img: RgbImage): PreprocessedImage {
    const pixels = preprocessImage(img, {
      size: this.imageSize,
      mode: this.preprocessMode,
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
    if (opts.boxes && opts.boxes.length !== inputs.length)
      throw new FgClipError('INPUT_INVALID', `encodeImages: ${opts.boxes.length} box lists for ${inputs.length} images`);
    const bs = this.options.batchSize ?? 8;
    if (this.towers.encodeDecoded) return this.encodeDecodedImages(inputs, opts, bs);
    const results: ImageEncoding[] = [];
    let batch: PreprocessedImage[] = [];
    const flush = async () => {
      const start = results.length;
      const boxes = opts.boxes?.slice(start, start + batch.length);
      results.push(...(await this.encodeBatch(batch, { ...opts, boxes }, start)));
      batch = [];
    };
    for await (const p of this.preprocessAll(inputs)) {
      batch.push(p);
      if (batch.length === bs) await flush();
    }
    if (batch.length > 0) await flush();
    return results;
  }

  /** Families with per-image resolution (FG-CLIP 2 NaFlex): decode here, the family preprocesses and encodes. */
  private async encodeDecodedImages(inputs: readonly ImageInput[], opts: EncodeImageOptions, bs: number): Promise<ImageEncoding[]> {
    const encode = this.towers.encodeDecoded;
    if (!encode) throw new FgClipError('INPUT_INVALID', 'encodeImages: no per-image encoder');
    const results: ImageEncoding[] = [];
    for (let s = 0; s < inputs.length; s += bs) {
      const imgs = await Promise.all(inputs.slice(s, s + bs).map((x) => this.decode(x)));
      const out = await encode(imgs, { dense: opts.dense ?? false, boxes: opts.boxes?.slice(s, s + bs), maxNumPatches: opts.maxNumPatches });
      out.forEach((r, i) => results.push(decodedImageEncoding(imgs[i], r, opts)));
    }
    return results;
  }

  /** whether the family picks a resolution per image (FG-CLIP 2's NaFlex): no square [3, S, S] pixel path then */
  get perImageResolution(): boolean {
    return this.towers.encodeDecoded !== undefined;
  }

  /** the sigmoid scoring's bias (FG-CLIP 2's `logit_bias`); undefined for softmax families */
  get logitBias(): number | undefined {
    return this.towers.logitBias;
  }

  /** 'sigmoid' (FG-CLIP 2: sigmoid(exp(t)·cos + b)) or 'softmax' (FG-CLIP v1): what `probabilities` returns. */
  get scoreKind(): 'softmax' | 'sigmoid' {
    return this.towers.scoreKind ?? 'softmax';
  }

  async encodePixels(images: readonly PreprocessedImage[], opts: EncodeImageOptions = {}): Promise<ImageEncoding[]> {
    this.checkAlive();
    if (images.length === 0) throw new FgClipError('INPUT_INVALID', 'encodePixels: the list of images is empty');
    if (opts.boxes && opts.boxes.length !== images.length)
      throw new FgClipError('INPUT_INVALID', `encodePixels: ${opts.boxes.length} box lists for ${images.length} images`);
    const bs = this.options.batchSize ?? 8;
    const results: ImageEncoding[] = [];
    for (let s = 0; s < images.length; s += bs) {
      results.push(...(await this.encodeBatch(images.slice(s, s + bs), { ...opts, boxes: opts.boxes?.slice(s, s + bs) }, s)));
    }
    return results;
  }

  /** One tower call for up to a batch of images; `start` numbers the images in messages. */
  private async encodeBatch(batch: readonly PreprocessedImage[], opts: EncodeImageOptions, start: number): Promise<ImageEncoding[]> {
    const px = batchPixelValues(
      batch.map((p) => p.pixels),
      this.imageSize,
    );
    const grids = batch.map((p, i) => (opts.boxes ? boxesToGrid(opts.boxes[i], p.width, p.height, this.gridSize, `image ${start + i}`) : []));
    // the dense branch only for calls that return dense maps or regions (embed, classify, search need neither)
    const { image, dense } = await this.runVision(px, { dense: opts.dense === true || opts.boxes !== undefined });
    return batch.map((p, i) => imageEncoding(p, { image: image[i], dense: dense[i] }, this.towers.grid, grids[i], opts));
  }

  /**
   * Preprocessed images in input order. More than one batch goes through the worker pool, so decoding and resizing
   * the next images overlaps inference on the current batch; a failing image rejects the whole call (typed error).
   */
  private async *preprocessAll(inputs: readonly ImageInput[]): AsyncGenerator<PreprocessedImage> {
    const workers = this.options.preprocessWorkers ?? defaultThreads();
    const bs = this.options.batchSize ?? 8;
    // Starting the workers costs more than they save on a call of a few batches (whole-process embedding of 16 JPEGs,
    // BENCHMARKS.md); a pool started by an earlier call is used whatever the size.
    if (workers === 0 || (this.pool === undefined && inputs.length <= IN_THREAD_BATCHES * bs)) {
      // decoding (the injected decoder; sharp's runs off this thread) of the next image overlaps the resize of this one; at most two decoded
      // images are held at a time
      const decode = (x: ImageInput): Promise<RgbImage> => {
        const p = this.decode(x);
        p.catch(() => undefined); // a failure is thrown where it is awaited, in input order
        return p;
      };
      let next = decode(inputs[0]);
      for (let i = 0; i < inputs.length; i++) {
        const current = next;
        if (i + 1 < inputs.length) next = decode(inputs[i + 1]);
        yield this.preprocessDecoded(await current);
      }
      return;
    }
    this.pool ??= createPreprocessPool({
      threads: workers,
      size: this.imageSize,
      mode: this.preprocessMode,
      mean: this.preprocessConfig.image_mean,
      std: this.preprocessConfig.image_std,
      rescaleFactor: this.preprocessConfig.rescale_factor,
      maxPixels: this.options.maxPixels,
      autoOrient: this.options.autoOrient,
      maxInFlight: 2 * (this.options.batchSize ?? 8),
      ...(this.decoder.worker ? { decoder: this.decoder } : {}),
    });
    const pool = await this.pool;
    // a decoder the workers cannot import decodes here, one image ahead of the pool's resizing
    for await (const r of pool.map(this.decoder.worker ? inputs : this.decodedAhead(inputs))) {
      if (!r.ok) throw r.error;
      yield r;
    }
  }

  private async *decodedAhead(inputs: readonly ImageInput[]): AsyncGenerator<RgbImage> {
    for (const x of inputs) yield await this.decode(x);
  }

  async encodeTexts(texts: readonly string[], opts: EncodeTextOptions = {}): Promise<TextEncoding> {
    this.checkAlive();
    return encodeTextBatches(texts, {
      tokenizer: this.tokenizer,
      lengths: this.textLengths,
      mode: opts.mode ?? 'auto',
      batchSize: Math.max(this.options.batchSize ?? 8, 16),
      normalize: opts.normalize ?? true,
      truncate: opts.truncate,
      family: this.family,
      run: (ids, mode) => this.runText(ids, mode),
    });
  }

  /** The model's probabilities for one image against texts (inputs normalized here). */
  probabilities(image: Float32Array, texts: readonly Float32Array[]): number[] {
    const i = l2normalize(image);
    const cos = texts.map((t) => dotNorm(i, t));
    return this.towers.scores ? this.towers.scores(cos) : probabilities(cos, this.logitScale);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    void this.pool?.then((p) => p.close()).catch(() => undefined);
    this.towers.dispose();
  }

  private roi(dense: Float32Array[], boxes: readonly GridBox[]): Float32Array[] {
    return regionFeatures(dense, this.towers.grid, boxes);
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

/** calls of up to this many batches decode and resize on the calling thread (no worker pool) */
const IN_THREAD_BATCHES = 4;
