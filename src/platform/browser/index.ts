/**
 * fgclip in the browser (`fgclip/browser`, dist/browser/index.js): the FgClip API of the Node library, running
 * onnxruntime-web in a Web Worker so the page never freezes. Promise-based; result buffers are transferred from
 * the worker, not copied.
 *
 *   const model = await FgClip.load('qihoo360/fg-clip-base', { onProgress: (p) => console.log(p) });
 *   const [img] = await model.encodeImages([file]);                     // Blob/File, URL, ImageData, ImageBitmap, canvas, <img>, bytes
 *   const { embeddings } = await model.encodeTexts(['a photo of a cat', 'a photo of a dog']);
 *   model.probabilities(img.embedding, embeddings);
 *
 * `source`: a Hub id (`org/name` or `org/name@revision`), a URL of a model folder in the Hugging Face layout or of
 * an `fgclip export` folder (absolute, or starting with `/`, `./`, `../`), or the folder's files (File[], FileList
 * or { name: Blob }).
 */
import { FgClipError, type FgClipErrorCode } from '../../errors.js';
import { assertRevision, DEFAULT_ENDPOINT, DEFAULT_REVISION, isValidRepoId, oneRevision, parseModelRef } from '../../hub/repo-ref.js';
import { probabilities as softmaxProbabilities, l2normalize } from '../../postprocess/similarity.js';
import type {
  ModelInfo,
  Request,
  WebGpuAdapterInfo,
  WebGpuUnavailableReason,
  Response,
  SourceSpec,
  WireImage,
  WireImageResult,
  WireTextResult,
  WorkerLoadOptions,
} from './protocol.js';
import type { Progress } from './store.js';

export { FgClipError };
export type { FgClipErrorCode, ModelInfo, Progress, WebGpuAdapterInfo, WebGpuUnavailableReason };

export const DEFAULT_HUB_ENDPOINT = DEFAULT_ENDPOINT;

export interface LoadOptions {
  /**
   * 'auto' (default): WebGPU when the browser has a hardware adapter and it runs the model, else wasm (why:
   * `info.deviceFallback`); 'webgpu': WebGPU or a WEBGPU_UNAVAILABLE error (`error.details.reason`); 'wasm'
   */
  readonly device?: 'auto' | 'wasm' | 'webgpu';
  /** wasm threads (default: navigator.hardwareConcurrency; always 1 when the page is not cross-origin isolated) */
  readonly threads?: number;
  /** linear layers when building from a checkpoint: 'fp32' (default, exact), 'int8', 'fp16' */
  readonly dtype?: 'fp32' | 'fp16' | 'int8';
  /** Hub revision (branch, tag or commit; default 'main'); also `org/name@revision` */
  readonly revision?: string;
  /** Hub endpoint (default https://huggingface.co) */
  readonly endpoint?: string;
  /** Hub token for private repos (sent to the endpoint only) */
  readonly token?: string;
  /** keep downloads and built graphs in OPFS (default true) */
  readonly cache?: boolean;
  /**
   * ask the browser to keep the cache under storage pressure with navigator.storage.persist() (default true when
   * caching; Chromium answers from site engagement without a prompt, Firefox may show a permission prompt)
   */
  readonly persistStorage?: boolean;
  /** 'wasm' (default): PNG/JPEG decoded bit-identically to Pillow; 'browser': the browser's decoder */
  readonly decoder?: 'wasm' | 'browser';
  readonly maxPixels?: number;
  /** images per inference call (default 8) */
  readonly batchSize?: number;
  /** 'squash' (the model card's flow) or 'crop' (CLIPImageProcessor); default the family's (squash for FG-CLIP, crop for CLIP) */
  readonly preprocess?: 'squash' | 'crop';
  readonly onProgress?: (p: Progress) => void;
  /** onnxruntime-web's log level in the worker's console ('error' by default; 'verbose' shows where each graph node runs) */
  readonly ortLogLevel?: 'verbose' | 'info' | 'warning' | 'error';
  /** where the worker script is (default: worker.js beside this module) */
  readonly workerUrl?: string | URL;
}

/** A drawable the page already has: its pixels are read through a canvas (decoded by the browser, not Pillow-exact). */
export type DrawableImage = ImageBitmap | HTMLCanvasElement | OffscreenCanvas | HTMLImageElement;
/**
 * An image: encoded bytes (Blob/File, ArrayBuffer, Uint8Array, or a URL string fetched by the page; PNG and JPEG
 * decoded Pillow-exactly in the worker), or pixels (ImageData, or a DrawableImage).
 */
export type BrowserImage = Blob | ImageData | ArrayBuffer | Uint8Array | string | URL | DrawableImage;

function isDrawable(x: unknown): x is DrawableImage {
  return (
    (typeof ImageBitmap !== 'undefined' && x instanceof ImageBitmap) ||
    (typeof OffscreenCanvas !== 'undefined' && x instanceof OffscreenCanvas) ||
    (typeof HTMLCanvasElement !== 'undefined' && x instanceof HTMLCanvasElement) ||
    (typeof HTMLImageElement !== 'undefined' && x instanceof HTMLImageElement)
  );
}

/** RGBA pixels of a drawable, drawn 1:1 on a canvas (an <img> is decoded first). */
async function drawnPixels(x: DrawableImage, i: number): Promise<ImageData> {
  const img = typeof HTMLImageElement !== 'undefined' && x instanceof HTMLImageElement ? x : undefined;
  if (img) {
    try {
      await img.decode();
    } catch (e) {
      throw new FgClipError(
        'IMAGE_DECODE',
        `encodeImages: image ${i} (<img src=${JSON.stringify(img.currentSrc || img.src)}>) could not be decoded by the browser`,
        { cause: e },
      );
    }
  }
  const w = img ? img.naturalWidth : (x as Exclude<DrawableImage, HTMLImageElement>).width;
  const h = img ? img.naturalHeight : (x as Exclude<DrawableImage, HTMLImageElement>).height;
  if (!(w > 0 && h > 0)) throw new FgClipError('IMAGE_DECODE', `encodeImages: image ${i} has no pixels (${w}×${h})`);
  const ctx = new OffscreenCanvas(w, h).getContext('2d');
  if (!ctx) throw new FgClipError('RUNTIME', 'encodeImages: no 2D canvas context to read the pixels of a drawable');
  ctx.drawImage(x, 0, 0);
  return ctx.getImageData(0, 0, w, h);
}

/** An image URL fetched by the page (relative to the document), as a Blob for the worker's decoder. */
async function fetchImage(url: string | URL, i: number): Promise<Blob> {
  const u = new URL(String(url), baseUrl());
  let res: globalThis.Response;
  try {
    res = await fetch(u);
  } catch (e) {
    throw new FgClipError(
      'INPUT_INVALID',
      `encodeImages: image ${i}: cannot fetch ${u.href} (${e instanceof Error ? e.message : String(e)}); check the URL, the network, or that its server sends CORS headers`,
      { cause: e },
    );
  }
  if (!res.ok) throw new FgClipError('INPUT_INVALID', `encodeImages: image ${i}: ${u.href} answered ${res.status} ${res.statusText}`);
  return res.blob();
}
export type PixelBox = readonly [number, number, number, number];

export interface EncodeImageOptions {
  readonly normalize?: boolean;
  readonly dense?: boolean;
  /** per image, boxes [x1, y1, x2, y2] in original-image pixels → one region feature each */
  readonly boxes?: readonly (readonly PixelBox[])[];
}

export interface EncodeTextOptions {
  /** 'long' where the family has long captions (FG-CLIP v1 and 2), 'box' (region texts) for FG-CLIP 2 */
  readonly mode?: 'auto' | 'short' | 'long' | 'box';
  readonly normalize?: boolean;
}

export type ImageEncoding = WireImageResult;
export type TextEncoding = WireTextResult;

function baseUrl(): string {
  return typeof document !== 'undefined' ? document.baseURI : ((globalThis as { location?: Location }).location?.href ?? 'http://localhost/');
}

/** Turns the user's `source` into what the worker fetches from. */
export function resolveSource(source: string | URL | FileList | readonly File[] | Readonly<Record<string, Blob>>, opts: LoadOptions = {}): SourceSpec {
  if (source instanceof URL || (typeof source === 'string' && /^([a-z][a-z0-9+.-]*:|\.{0,2}\/)/i.test(source))) {
    const u = new URL(String(source), baseUrl());
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    return { kind: 'url', base: u.href };
  }
  if (typeof source === 'string') {
    // the Node client's rules (src/hub/repo-ref.ts): repo id, `@revision` or the revision option (not two different)
    const ref = parseModelRef(source);
    if (!isValidRepoId(ref.repo))
      throw new FgClipError(
        'INPUT_INVALID',
        `FgClip.load: ${JSON.stringify(source)} is neither a Hub id (org/name or org/name@revision) nor a folder URL (absolute, or starting with /, ./ or ../)`,
      );
    const revision = oneRevision(source, ref.revision, opts.revision) ?? DEFAULT_REVISION;
    assertRevision(revision);
    return {
      kind: 'hub',
      repo: ref.repo,
      revision,
      endpoint: (opts.endpoint ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, ''),
      ...(opts.token ? { token: opts.token } : {}),
    };
  }
  const files: Record<string, Blob> = {};
  const list: readonly (File | [string, Blob])[] =
    typeof FileList !== 'undefined' && source instanceof FileList
      ? Array.from(source)
      : Array.isArray(source)
        ? (source as File[])
        : Object.entries(source as Record<string, Blob>);
  for (const x of list) {
    if (Array.isArray(x)) files[x[0]] = x[1];
    else {
      // a picked folder: "folder/vision/model.onnx" → "vision/model.onnx"
      const rel = x.webkitRelativePath ? x.webkitRelativePath.split('/').slice(1).join('/') : x.name;
      files[rel || x.name] = x;
    }
  }
  if (Object.keys(files).length === 0) throw new FgClipError('INPUT_INVALID', 'FgClip.load: no files given');
  return { kind: 'files', files };
}

/** navigator.storage.persist() where the page has it (Window only); undefined elsewhere or when it fails. */
async function requestPersistence(): Promise<boolean | undefined> {
  const storage = typeof navigator === 'undefined' ? undefined : (navigator.storage as (StorageManager & { persist?: () => Promise<boolean> }) | undefined);
  if (typeof storage?.persist !== 'function') return undefined;
  try {
    return await storage.persist();
  } catch {
    return undefined;
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onProgress?: (p: Progress) => void;
}

export class FgClip {
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  private disposed = false;

  private constructor(
    private readonly worker: Worker,
    /** device, threads, isolation, sizes, how the graphs were obtained, warnings */
    public info: ModelInfo,
  ) {
    worker.onmessage = (ev: MessageEvent<Response>) => this.onMessage(ev.data);
    worker.onerror = (ev) => this.failAll(new FgClipError('RUNTIME', `model worker failed: ${ev.message}`));
  }

  static async load(source: string | URL | FileList | readonly File[] | Readonly<Record<string, Blob>>, options: LoadOptions = {}): Promise<FgClip> {
    const spec = resolveSource(source, options);
    const device = options.device ?? 'auto';
    if (device !== 'auto' && device !== 'wasm' && device !== 'webgpu')
      throw new FgClipError('INPUT_INVALID', `device: expected 'auto', 'wasm' or 'webgpu' (got ${JSON.stringify(device)})`);
    const dtype = options.dtype ?? 'fp32';
    if (dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'int8')
      throw new FgClipError('INPUT_INVALID', `dtype: expected fp32, fp16 or int8 (got ${JSON.stringify(dtype)})`);
    if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads > 0))
      throw new FgClipError('INPUT_INVALID', `threads: expected a positive integer (got ${options.threads})`);
    const batchSize = options.batchSize ?? 8;
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new FgClipError('INPUT_INVALID', `batchSize: expected a positive integer (got ${batchSize})`);
    const wo: WorkerLoadOptions = {
      device,
      threads: options.threads,
      dtype,
      cache: options.cache ?? true,
      decoder: options.decoder ?? 'wasm',
      maxPixels: options.maxPixels,
      batchSize,
      ...(options.preprocess ? { preprocess: options.preprocess } : {}),
      ...(options.ortLogLevel ? { ortLogLevel: options.ortLogLevel } : {}),
    };
    const worker = new Worker(options.workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module', name: 'fgclip-model' });
    const m = new FgClip(worker, undefined as unknown as ModelInfo);
    const persisted = wo.cache && options.persistStorage !== false ? requestPersistence() : Promise.resolve(undefined);
    try {
      const info = (await m.call({ id: 0, type: 'load', source: spec, options: wo }, [], options.onProgress)) as ModelInfo;
      // what the developer should see without reading info: threads off, WebGPU fallback, config oddities
      for (const w of info.warnings) console.warn(`fgclip: ${w}`);
      const storagePersisted = await persisted;
      const warnings =
        storagePersisted === false
          ? [
              ...info.warnings,
              'the browser did not grant persistent storage (navigator.storage.persist()): the cached model may be evicted under storage pressure',
            ]
          : info.warnings;
      m.info = { ...info, warnings, ...(storagePersisted === undefined ? {} : { storagePersisted }) };
    } catch (e) {
      worker.terminate();
      throw e;
    }
    return m;
  }

  /** exp(logit_scale) */
  get logitScale(): number {
    return Math.exp(this.info.logitScaleLog);
  }
  get imageSize(): number {
    return this.info.imageSize;
  }
  get gridSize(): number {
    return this.info.grid;
  }
  get embeddingDim(): number {
    return this.info.embeddingDim;
  }

  async encodeTexts(texts: readonly string[], opts: EncodeTextOptions = {}): Promise<TextEncoding> {
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new FgClipError('INPUT_INVALID', 'encodeTexts: expected an array of strings');
    return (await this.call({ id: 0, type: 'encodeTexts', texts: [...texts], mode: opts.mode ?? 'auto', normalize: opts.normalize ?? true })) as TextEncoding;
  }

  async encodeImages(images: readonly BrowserImage[], opts: EncodeImageOptions = {}): Promise<ImageEncoding[]> {
    if (!Array.isArray(images))
      throw new FgClipError(
        'INPUT_INVALID',
        'encodeImages: expected an array of images (Blob/File, URL, ImageData, ImageBitmap, canvas, <img>, or encoded bytes)',
      );
    const transfer: Transferable[] = [];
    const rgba = (x: ImageData): WireImage => {
      const data = x.data.slice().buffer;
      transfer.push(data);
      return { kind: 'rgba', width: x.width, height: x.height, data };
    };
    const wire: WireImage[] = [];
    for (let i = 0; i < images.length; i++) {
      const x = images[i];
      if (typeof Blob !== 'undefined' && x instanceof Blob) wire.push({ kind: 'blob', blob: x });
      else if (typeof ImageData !== 'undefined' && x instanceof ImageData) wire.push(rgba(x));
      else if (x instanceof ArrayBuffer || x instanceof Uint8Array) {
        const bytes = x instanceof ArrayBuffer ? x.slice(0) : x.slice().buffer;
        transfer.push(bytes);
        wire.push({ kind: 'bytes', bytes });
      } else if (typeof x === 'string' || x instanceof URL) wire.push({ kind: 'blob', blob: await fetchImage(x, i) });
      else if (isDrawable(x)) wire.push(rgba(await drawnPixels(x, i)));
      else
        throw new FgClipError(
          'INPUT_INVALID',
          `encodeImages: image ${i} is not a Blob/File, URL, ImageData, ImageBitmap, canvas, <img>, ArrayBuffer or Uint8Array`,
        );
    }
    return (await this.call(
      { id: 0, type: 'encodeImages', images: wire, normalize: opts.normalize ?? true, dense: opts.dense ?? false, boxes: opts.boxes },
      transfer,
    )) as ImageEncoding[];
  }

  /**
   * The model card's probabilities of one image against texts: softmax(exp(logit_scale) · cos) (FG-CLIP v1, CLIP), or
   * for sigmoid families (FG-CLIP 2, `info.scoreKind`) sigmoid(exp(logit_scale) · cos + logit_bias) per text.
   */
  probabilities(image: Float32Array, texts: readonly Float32Array[]): number[] {
    const i = l2normalize(image);
    const cos = texts.map((t) => {
      const n = l2normalize(t);
      let s = 0;
      for (let k = 0; k < i.length; k++) s += i[k] * n[k];
      return s;
    });
    if (this.info.scoreKind === 'sigmoid') {
      const bias = this.info.logitBias ?? 0;
      return cos.map((c) => 1 / (1 + Math.exp(-(this.logitScale * c + bias))));
    }
    return softmaxProbabilities(cos, this.logitScale);
  }

  /** Releases the sessions and terminates the worker. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    try {
      await this.call({ id: 0, type: 'dispose' });
    } finally {
      this.disposed = true;
      this.worker.terminate();
      this.failAll(new FgClipError('DISPOSED', 'FgClip: the model was disposed; load it again'));
    }
  }

  /** Deletes everything fgclip keeps in this origin's OPFS (downloads and built graphs). */
  static async clearCache(): Promise<void> {
    const { clearStore } = await import('./store.js');
    await clearStore();
  }

  private call(req: Request, transfer: Transferable[] = [], onProgress?: (p: Progress) => void): Promise<unknown> {
    if (this.disposed) return Promise.reject(new FgClipError('DISPOSED', 'FgClip: the model was disposed; load it again'));
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  private onMessage(msg: Response): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === 'progress') {
      p.onProgress?.(msg.progress);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.type === 'result') p.resolve(msg.result);
    else p.reject(new FgClipError(msg.error.code as FgClipErrorCode, msg.error.message, msg.error.details ? { details: msg.error.details } : undefined));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/** Decodes an image on the page as the model does (PNG/JPEG bit-identical to Pillow's convert("RGB")). */
export async function decodeImage(
  image: Blob | ArrayBuffer | Uint8Array,
  opts: { maxPixels?: number; decoder?: 'wasm' | 'browser' } = {},
): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { decodeImageBytes } = await import('./decode.js');
  const bytes = image instanceof Blob ? new Uint8Array(await image.arrayBuffer()) : image instanceof ArrayBuffer ? new Uint8Array(image) : image;
  return decodeImageBytes(bytes, opts);
}

export { viridis } from '../../heatmap/viridis.js';
