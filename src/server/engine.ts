/**
 * The server's batching engine: an `Encoder` (src/model/encoder.ts) like the library's handle, so routes reach the
 * model through src/tasks exactly as the library and the CLI do. What it adds is sharing: every text and image a
 * request needs goes through one of four batchers (short, long and box texts; images), so concurrent requests
 * share tower calls. Text planning is the library's (src/model/text-plan.ts, run in the model's worker); image
 * encodings are assembled by the same function as the handle's (model/boxes.ts `imageEncoding`).
 *
 * Images given as bytes or paths are decoded and resized in the model's preprocessing pool (ModelHost: worker
 * threads) while holding their pixel count in a global budget (pixel-budget.ts), so concurrent large images decode
 * a few at a time. Families with a resolution per image (FG-CLIP 2) get decoded images; their NaFlex
 * preprocessing runs in the model worker.
 *
 * Per-request concerns travel in `RunOptions` (deadline signal, batch stats, usage, field names in errors);
 * `bind(run)` gives an `Encoder` carrying them, which is what a route hands to a task.
 */
import sharp from 'sharp';
import { FgClipError } from '../errors.js';
import type { TextMode } from '../families/types.js';
import { boxesToGrid, type PixelBox, validatePixelBox } from '../model/boxes.js';
import { imageEncoding } from '../model/image-encoding.js';
import type { EncodeImageOptions, EncodeTextOptions, Encoder, ImageEncoding, ImageInput, PreprocessedImage, TextEncoding } from '../model/encoder.js';
import { runTextPlan } from '../model/text-batches.js';
import { l2normalize, probabilities, sigmoidProbabilities } from '../postprocess/similarity.js';
import { nodeImageDecoder } from '../platform/node/image-decoder.js';
import { decodeInput } from '../preprocess/decode-input.js';
import type { DecodeOptions, RgbImage } from '../preprocess/index.js';
import { Batcher, type BatchInfo, type Expected, type SubmitStats } from './batcher.js';
import type { PixelBudget } from './pixel-budget.js';
import type { DecodedOptions, ServedModel } from './served-model.js';

export interface BatchingOptions {
  /** false: each request runs on its own (no merging across requests) */
  readonly enabled: boolean;
  readonly maxBatchSize: number;
  readonly maxWaitMs: number;
  /** the longest a batch waits for images whose decoding has started (bounded also by a model call's time; batcher.ts) */
  readonly maxHoldMs?: number;
  /** items allowed to wait per lane */
  readonly maxQueue: number;
}

/** What a request fed the model (for its log line and the `usage` field). */
export interface Usage {
  items: number;
  /** tokens fed to the text tower, bos/eos included, after truncation (the library's name: `tokenCounts` per text) */
  tokenCount: number;
}

export interface RunOptions {
  /** the request deadline: waiting items leave the queue when it fires */
  readonly signal?: AbortSignal;
  readonly stats?: SubmitStats;
  readonly usage?: Usage;
  /** what errors call the texts (default 'texts': `texts[3]: …`) */
  readonly textField?: string;
  /** what errors call image i (default `image i`) */
  readonly imageName?: (i: number) => string;
}

/** One image in the image lane: square pixels, or a decoded image for a family with a resolution per image. */
type ImageItem =
  | { readonly pixels: Float32Array; readonly dense: boolean; readonly owned: boolean }
  | { readonly rgb: RgbImage; readonly boxes: readonly PixelBox[]; readonly dense: boolean; readonly maxNumPatches?: DecodedOptions['maxNumPatches'] };

/** Raw tower outputs of one image. */
interface RawImage {
  readonly image: Float32Array;
  readonly dense: Float32Array[];
  readonly grid: readonly [number, number];
  readonly regions?: Float32Array[];
}

const DECODE_CODES = new Set(['IMAGE_DECODE', 'IMAGE_TOO_LARGE']);

/** default bound of the image lane's hold for images still decoding (BENCHMARKS.md, "Load test") */
export const DEFAULT_MAX_HOLD_MS = 100;

export class Engine implements Encoder {
  readonly lanes: Batcher<unknown, unknown>[];
  private readonly text: Record<TextMode, Batcher<number[], Float32Array>>;
  private readonly images: Batcher<ImageItem, RawImage>;

  constructor(
    readonly model: ServedModel,
    readonly batching: BatchingOptions,
    onBatch?: (info: BatchInfo) => void,
    private readonly pixels?: PixelBudget,
  ) {
    const common = {
      maxBatchSize: batching.enabled ? batching.maxBatchSize : Math.max(1, batching.maxBatchSize),
      maxWaitMs: batching.enabled ? batching.maxWaitMs : 0,
      maxQueue: batching.maxQueue,
      mergeSubmissions: batching.enabled,
      onBatch,
    };
    const lane = (mode: TextMode) => new Batcher<number[], Float32Array>({ ...common, lane: `text-${mode}`, run: (ids) => this.model.runText(ids, mode) });
    this.text = { short: lane('short'), long: lane('long'), box: lane('box') };
    this.images = new Batcher({
      ...common,
      lane: 'image',
      maxHoldMs: batching.enabled ? (batching.maxHoldMs ?? DEFAULT_MAX_HOLD_MS) : 0,
      run: (items) => this.runImages(items),
    });
    this.lanes = [this.text.short, this.text.long, this.text.box, this.images] as Batcher<unknown, unknown>[];
  }

  // ---- Encoder facts ----------------------------------------------------------------------------------------

  get modelDir(): string {
    return this.model.info.modelDir;
  }
  get family(): string {
    return this.model.info.family;
  }
  get embeddingDim(): number {
    return this.model.info.embeddingDim;
  }
  get imageSize(): number {
    return this.model.info.imageSize;
  }
  get gridSize(): number {
    return this.model.info.grid[0];
  }
  get textLengths() {
    return this.model.info.textLengths;
  }
  get logitScale(): number {
    return this.model.info.logitScale;
  }
  get scoreKind(): 'softmax' | 'sigmoid' {
    return this.model.info.scoreKind;
  }
  decodeOptions(): DecodeOptions {
    return this.model.info.decode;
  }

  /** The model's probabilities of one image over texts: softmax (FG-CLIP v1, CLIP) or sigmoid per text (FG-CLIP 2). */
  probabilities(image: Float32Array, texts: readonly Float32Array[]): number[] {
    const i = l2normalize(image);
    const cos = texts.map((t) => {
      const n = l2normalize(t);
      let s = 0;
      for (let k = 0; k < i.length; k++) s += i[k] * n[k];
      return s;
    });
    const m = this.model.info;
    return m.scoreKind === 'sigmoid' ? sigmoidProbabilities(cos, m.logitScale, m.logitBias ?? 0) : probabilities(cos, m.logitScale);
  }

  /** An Encoder whose calls carry `run` (a request's deadline, stats, usage and field names). */
  bind(run: RunOptions): Encoder {
    return {
      modelDir: this.modelDir,
      family: this.family,
      embeddingDim: this.embeddingDim,
      imageSize: this.imageSize,
      gridSize: this.gridSize,
      textLengths: this.textLengths,
      logitScale: this.logitScale,
      scoreKind: this.scoreKind,
      encodeTexts: (texts, opts) => this.encodeTexts(texts, { ...opts, ...run }),
      encodeImages: (inputs, opts) => this.encodeImages(inputs, { ...opts, ...run }),
      encodePixels: (images, opts) => this.encodePixels(images, { ...opts, ...run }),
      preprocess: (input) => this.preprocess(input),
      decode: (input) => this.decode(input),
      decodeOptions: () => this.decodeOptions(),
      probabilities: (image, texts) => this.probabilities(image, texts),
    };
  }

  // ---- texts ---------------------------------------------------------------------------------------------------

  /** As `FgClip.encodeTexts` (the same plan), with rows merged across requests by the text batchers. */
  async encodeTexts(texts: readonly string[], opts: EncodeTextOptions & RunOptions = {}): Promise<TextEncoding> {
    const lengths = this.textLengths;
    const field = opts.textField ?? 'texts';
    const plan = await this.model.planTexts(texts, { mode: opts.mode, truncate: opts.truncate, field }).catch((e: unknown) => {
      const at = e instanceof FgClipError ? new RegExp(`^(${field.replace(/\W/g, '\\$&')}\\[\\d+\\]): `).exec(e.message) : null;
      throw at ? withParam(e as FgClipError, at[1]) : e;
    });
    opts.signal?.throwIfAborted();
    // all of a mode's rows go to its batcher at once (it cuts them into model batches, merged with other requests)
    const enc = await runTextPlan(plan, {
      lengths,
      normalize: opts.normalize ?? true,
      concurrent: true,
      run: (rows, mode) => this.text[mode].submit(rows as number[][], opts),
    });
    if (opts.usage) {
      opts.usage.items += texts.length;
      opts.usage.tokenCount += plan.ids.reduce((a, row, i) => a + Math.min(plan.tokenCounts[i], row.length), 0);
    }
    return enc;
  }

  // ---- images --------------------------------------------------------------------------------------------------

  /** Decodes and preprocesses one image with the square flow (the preprocessing pool for a ModelHost). */
  preprocess(input: ImageInput): Promise<PreprocessedImage> {
    return this.model.preprocess(input);
  }

  async encodeImages(inputs: readonly ImageInput[], opts: EncodeImageOptions & RunOptions = {}): Promise<ImageEncoding[]> {
    if (!Array.isArray(inputs) || inputs.length === 0) throw new FgClipError('INPUT_INVALID', 'encodeImages: the list of images is empty');
    if (opts.boxes && opts.boxes.length !== inputs.length)
      throw new FgClipError('INPUT_INVALID', `encodeImages: ${opts.boxes.length} box lists for ${inputs.length} images`);
    const name = opts.imageName ?? ((i: number) => `image ${i}`);
    // each image is announced to the image batcher when its decoding starts, so a batch forming meanwhile waits
    // for it (bounded; batcher.ts) instead of leaving one or two images at a time as the pool finishes them
    const coming = this.images.expect();
    try {
      const announced = (work: (input: ImageInput) => Promise<PreprocessedImage | RgbImage>) => (input: ImageInput) => {
        coming.add(1);
        return work(input);
      };
      if (this.model.info.perImage)
        return await this.encodePerImage(
          inputs,
          { ...opts, expected: coming },
          name,
          announced((input) => this.decode(input)) as (input: ImageInput) => Promise<RgbImage>,
        );
      const pre = await Promise.all(
        inputs.map((x, i) =>
          this.budgeted(x, name(i), opts.signal, announced((input) => this.model.preprocess(input)) as (input: ImageInput) => Promise<PreprocessedImage>),
        ),
      );
      // `owned`: these pixels are this call's own (the batch may hand their buffers over to the model worker)
      return await this.encodePixels(pre, { ...opts, expected: coming, owned: true });
    } finally {
      coming.release();
    }
  }

  async encodePixels(
    images: readonly PreprocessedImage[],
    opts: EncodeImageOptions & RunOptions & { expected?: Expected; owned?: boolean } = {},
  ): Promise<ImageEncoding[]> {
    if (this.model.info.perImage)
      throw new FgClipError('INPUT_INVALID', `encodePixels: this ${this.family} model picks a resolution per image (no square pixel path); use encodeImages`);
    if (images.length === 0) throw new FgClipError('INPUT_INVALID', 'encodePixels: the list of images is empty');
    if (opts.boxes && opts.boxes.length !== images.length)
      throw new FgClipError('INPUT_INVALID', `encodePixels: ${opts.boxes.length} box lists for ${images.length} images`);
    const name = opts.imageName ?? ((i: number) => `image ${i}`);
    const grid = this.model.info.grid;
    // boxes are checked before any model work (a bad box fails this request, never a shared batch)
    const grids = images.map((p, i) => (opts.boxes ? boxesToGrid(opts.boxes[i], p.width, p.height, grid[0], name(i)) : []));
    const raw = await this.images.submit(
      // the dense branch runs only for batches where some item needs a dense map or regions
      images.map((p) => ({ pixels: p.pixels, dense: opts.dense === true || opts.boxes !== undefined, owned: opts.owned === true })),
      opts,
    );
    if (opts.usage) opts.usage.items += images.length;
    return images.map((p, i) => imageEncoding(p, raw[i], grid, grids[i], opts));
  }

  /** FG-CLIP 2: decoded images (held in the pixel budget until their batch ran) → the family's own encodings. */
  private async encodePerImage(
    inputs: readonly ImageInput[],
    opts: EncodeImageOptions & RunOptions & { expected: Expected },
    name: (i: number) => string,
    decode: (input: ImageInput) => Promise<RgbImage>,
  ): Promise<ImageEncoding[]> {
    const settled = await Promise.allSettled(inputs.map((x, i) => this.budgeted(x, name(i), opts.signal, decode, true)));
    const held = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      const items: ImageItem[] = held.map(({ rgb }, i) => {
        const boxes = opts.boxes?.[i] ?? [];
        boxes.forEach((b) => validatePixelBox(b, rgb.width, rgb.height, name(i)));
        return { rgb, boxes, dense: opts.dense ?? false, maxNumPatches: opts.maxNumPatches };
      });
      const raw = await this.images.submit(items, opts);
      if (opts.usage) opts.usage.items += inputs.length;
      const f = (v: Float32Array) => ((opts.normalize ?? true) ? l2normalize(v) : v);
      return raw.map((r, i) => ({
        embedding: f(r.image),
        width: held[i].rgb.width,
        height: held[i].rgb.height,
        grid: r.grid,
        ...(opts.dense ? { dense: r.dense.map(f) } : {}),
        ...(opts.boxes ? { regions: (r.regions ?? []).map(f) } : {}),
      }));
    } finally {
      for (const h of held) h.release();
    }
  }

  /** Decodes one image while holding its size in the pixel budget; the caller releases it when done with the pixels. */
  decodeHeld(input: string | Uint8Array, where: string, signal?: AbortSignal): Promise<{ rgb: RgbImage; release: () => void }> {
    return this.budgeted(input, where, signal, (x) => this.decode(x), true);
  }

  /** Decodes one image with the image decoding port (Node's sharp decoder) and the model's decode options. */
  async decode(input: ImageInput): Promise<RgbImage> {
    return decodeInput(nodeImageDecoder, input, this.decodeOptions());
  }

  /**
   * Runs `work` on one image while its decoded size is held in the pixel budget (bytes and paths; decoded images
   * are the caller's). Decode errors name the image. `keep`: the hold outlives `work` (returned with the result).
   */
  private async budgeted<T>(input: ImageInput, where: string, signal: AbortSignal | undefined, work: (input: ImageInput) => Promise<T>): Promise<T>;
  private async budgeted<T>(
    input: ImageInput,
    where: string,
    signal: AbortSignal | undefined,
    work: (input: ImageInput) => Promise<T>,
    keep: true,
  ): Promise<{ rgb: T; release: () => void }>;
  private async budgeted<T>(
    input: ImageInput,
    where: string,
    signal: AbortSignal | undefined,
    work: (input: ImageInput) => Promise<T>,
    keep = false,
  ): Promise<T | { rgb: T; release: () => void }> {
    const budget = this.pixels;
    const release = budget && !isRgb(input) ? await budget.acquire(await headerPixels(input, budget.total), signal) : () => undefined;
    try {
      signal?.throwIfAborted();
      const out = await work(input);
      if (keep) return { rgb: out, release };
      release();
      return out;
    } catch (e) {
      release();
      if (e instanceof FgClipError && DECODE_CODES.has(e.code))
        throw withParam(new FgClipError(e.code, `${where}: ${e.message.replace(/^decodeImage\([^)]*\): /, '')}`, { cause: e }), where);
      throw e;
    }
  }

  private async runImages(items: ImageItem[]): Promise<RawImage[]> {
    const first = items[0];
    if ('pixels' in first) {
      const square = items as Extract<ImageItem, { pixels: Float32Array }>[];
      // the images go to the model as a list, assembled into [B, 3, S, S] where the model runs (for a ModelHost, in
      // its worker: that copy is too large for the HTTP thread); pixels this engine decoded are handed over (a
      // ModelHost transfers them), a caller's are copied
      const list = square.map((it) => (it.owned ? it.pixels : new Float32Array(it.pixels)));
      const { image, dense } = await this.model.runVision(list, { dense: square.some((it) => it.dense) });
      return image.map((v, i) => ({ image: v, dense: dense[i] ?? [], grid: this.model.info.grid }));
    }
    // decoded images: one model call per patch-budget setting
    const decoded = items as Extract<ImageItem, { rgb: RgbImage }>[];
    const out: RawImage[] = new Array(items.length);
    const keys = [...new Set(decoded.map((d) => String(d.maxNumPatches ?? 'card')))];
    for (const key of keys) {
      const idx = decoded.map((d, i) => (String(d.maxNumPatches ?? 'card') === key ? i : -1)).filter((i) => i >= 0);
      const part = idx.map((i) => decoded[i]);
      const enc = await this.model.encodeDecoded(
        part.map((d) => d.rgb),
        { dense: part.some((d) => d.dense), boxes: part.map((d) => d.boxes), maxNumPatches: part[0].maxNumPatches },
      );
      idx.forEach((i, k) => (out[i] = { image: enc[k].embedding, dense: enc[k].dense ?? [], grid: enc[k].grid, regions: enc[k].regions }));
    }
    return out;
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------------

  /** per lane: items waiting for a batch, and model calls running now */
  queueDepths(): { lane: string; depth: number; running: number }[] {
    return this.lanes.map((b) => ({ lane: b.lane, depth: b.queueDepth, running: b.active }));
  }

  close(): void {
    for (const b of this.lanes) b.close();
  }

  async idle(): Promise<void> {
    await Promise.all(this.lanes.map((b) => b.idle()));
  }
}

/** An error of one request field: the server answers with it as the error's `param`. */
export function withParam(e: FgClipError, param: string): FgClipError {
  return Object.assign(e, { param });
}

function isRgb(x: ImageInput): x is RgbImage {
  return typeof x === 'object' && !(x instanceof Uint8Array) && 'data' in x && 'width' in x;
}

/**
 * width × height from the image header (cheap, no pixel decoded); unreadable headers count as one pixel (decoding
 * then gives the typed error). Paths count one pixel: the server only decodes bytes, and a path's header is not read
 * here (decodeImage refuses special files before opening them; sharp here would not).
 */
async function headerPixels(input: string | Uint8Array, cap: number): Promise<number> {
  if (typeof input === 'string') return 1;
  try {
    const m = await sharp(input, { limitInputPixels: false }).metadata();
    return Math.min(cap, (m.width ?? 1) * (m.pageHeight ?? m.height ?? 1));
  } catch {
    return 1;
  }
}
