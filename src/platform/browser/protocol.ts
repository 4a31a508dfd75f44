/** Messages between the page (index.ts) and the model worker (worker.ts). Buffers are transferred, not copied. */
import type { Progress } from './store.js';

export type Device = 'wasm' | 'webgpu';

/** Where the model files come from, as resolved on the page. */
export type SourceSpec =
  | { readonly kind: 'url'; readonly base: string }
  | { readonly kind: 'hub'; readonly repo: string; readonly revision: string; readonly endpoint: string; readonly token?: string }
  | { readonly kind: 'files'; readonly files: Readonly<Record<string, Blob>> };

export interface WorkerLoadOptions {
  readonly device: 'auto' | Device;
  readonly threads?: number;
  readonly dtype: 'fp32' | 'fp16' | 'int8';
  readonly cache: boolean;
  readonly decoder: 'wasm' | 'browser';
  readonly maxPixels?: number;
  readonly batchSize: number;
  /** undefined: the family's default ('squash' for FG-CLIP, 'crop' for CLIP, as on Node) */
  readonly preprocess?: 'squash' | 'crop';
  /** onnxruntime's log level ('error' by default; 'verbose' logs where each graph node runs) */
  readonly ortLogLevel?: 'verbose' | 'info' | 'warning' | 'error';
}

/** Why device 'auto' ended on wasm although WebGPU was considered (also the `reason` of a WEBGPU_UNAVAILABLE error). */
export type WebGpuUnavailableReason =
  /** navigator.gpu is missing: the browser has no WebGPU (or it is off), or the page is not a secure context */
  | 'no-navigator-gpu'
  /** navigator.gpu.requestAdapter() gave null: no usable GPU (blocklisted, disabled, e.g. --disable-gpu, or none) */
  | 'no-adapter'
  /** requestAdapter() threw */
  | 'adapter-error'
  /** the only adapter is a software fallback (e.g. SwiftShader): correct but slower than WebAssembly; 'auto' skips it */
  | 'software-adapter'
  /** onnxruntime-web could not create the sessions on the adapter */
  | 'session-failed';

export interface WebGpuAdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly description: string;
  /** a software adapter (SwiftShader): functional, slow */
  readonly isFallbackAdapter: boolean;
}

export interface ModelInfo {
  /** the model family the registry picked from config.json (src/families/registry.ts): 'fgclip', 'fgclip2', 'clip' */
  readonly family: string;
  /** the device the sessions run on */
  readonly device: Device;
  /** what `device` asked for ('auto' by default) */
  readonly deviceRequested: 'auto' | Device;
  /** set when 'auto' did not use WebGPU: why, in a sentence a page can show (reason: see WebGpuUnavailableReason) */
  readonly deviceFallback?: { readonly reason: WebGpuUnavailableReason; readonly message: string };
  /** the WebGPU adapter requestAdapter() gave, when there was one */
  readonly webgpuAdapter?: WebGpuAdapterInfo;
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  readonly webgpuAvailable: boolean;
  readonly imageSize: number;
  readonly grid: number;
  readonly embeddingDim: number;
  readonly logitScaleLog: number;
  /** FG-CLIP 2: images are encoded at a resolution and grid of their own (NaFlex); imageSize and grid are the position table's */
  readonly perImageResolution: boolean;
  /** how `probabilities` scores: softmax(exp(t)·cos) (FG-CLIP v1, CLIP) or sigmoid(exp(t)·cos + logitBias) (FG-CLIP 2) */
  readonly scoreKind: 'softmax' | 'sigmoid';
  /** the bias of sigmoid scoring (FG-CLIP 2's logit_bias) */
  readonly logitBias?: number;
  /** tokens per text mode; `long` and `box` only where the family has those paths */
  readonly textLengths: { readonly short: number; readonly long?: number; readonly box?: number };
  /** 'export' (an exported folder), 'graph-cache' (built earlier, from OPFS) or 'built' (from the checkpoint now) */
  readonly graphs: 'export' | 'graph-cache' | 'built';
  readonly loadMs: number;
  /**
   * Weights in JS memory while the sessions were created: the weight files' bytes, the most the loader held at
   * once (one initializer: the files are read range by range as onnxruntime-web copies them), and the bytes read.
   * FG-CLIP v1 only (other families build their graphs in memory and do not meter)
   */
  readonly memory?: { readonly weightFileBytes: number; readonly largestFileBytes: number; readonly loaderPeakBytes: number; readonly loaderReadBytes: number };
  readonly warnings: readonly string[];
  /**
   * navigator.storage.persist()'s answer on the page (the cache is then not evicted under storage pressure);
   * undefined when not asked (cache: false or persistStorage: false, or loaded from a worker, where persist() is absent)
   */
  readonly storagePersisted?: boolean;
}

/** An image as sent to the worker: encoded bytes, or RGBA pixels (ImageData). */
export type WireImage =
  | { readonly kind: 'blob'; readonly blob: Blob }
  | { readonly kind: 'bytes'; readonly bytes: ArrayBuffer }
  | { readonly kind: 'rgba'; readonly width: number; readonly height: number; readonly data: ArrayBuffer };

export type Request =
  | { readonly id: number; readonly type: 'load'; readonly source: SourceSpec; readonly options: WorkerLoadOptions }
  | {
      readonly id: number;
      readonly type: 'encodeTexts';
      readonly texts: readonly string[];
      readonly mode: 'auto' | 'short' | 'long' | 'box';
      readonly normalize: boolean;
    }
  | {
      readonly id: number;
      readonly type: 'encodeImages';
      readonly images: readonly WireImage[];
      readonly normalize: boolean;
      readonly dense: boolean;
      readonly boxes?: readonly (readonly (readonly [number, number, number, number])[])[];
    }
  | { readonly id: number; readonly type: 'dispose' };

export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export type Response =
  | { readonly id: number; readonly type: 'result'; readonly result: unknown }
  | { readonly id: number; readonly type: 'error'; readonly error: WireError }
  | { readonly id: number; readonly type: 'progress'; readonly progress: Progress };

export interface WireTextResult {
  readonly embeddings: Float32Array[];
  readonly modes: ('short' | 'long' | 'box')[];
  readonly truncated: boolean[];
  readonly tokenCounts: number[];
}

export interface WireImageResult {
  readonly embedding: Float32Array;
  readonly width: number;
  readonly height: number;
  readonly grid: readonly [number, number];
  readonly dense?: Float32Array[];
  readonly regions?: Float32Array[];
}
