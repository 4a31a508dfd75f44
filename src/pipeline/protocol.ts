/** Messages between the preprocessing pool (main thread) and its workers (src/pipeline/worker.ts). */
import type { FgClipErrorCode } from '../errors.js';
import type { DecodeOptions, PreprocessOptions, RgbImage } from '../preprocess/index.js';

/** What one pool item can be: a file path, encoded image bytes, or an already decoded RGB image. */
export type PoolInput = string | Uint8Array | RgbImage;

/** `workerData`: the same options for every item, fixed when the pool starts. */
export interface WorkerConfig {
  readonly preprocess: PreprocessOptions;
  readonly decode: DecodeOptions;
  /** the injected decoder (image decoding port), as the module and export a worker imports it from */
  readonly decoder: { readonly module: string; readonly exportName: string };
  /** nice value the worker thread lowers itself to (thread-priority.ts); absent: unchanged */
  readonly nice?: number;
}

export interface TaskMessage {
  readonly id: number;
  readonly input: PoolInput;
}

/** The worker's first message, posted once its modules (the decoder, preprocess) have loaded. */
export interface ReadyMessage {
  readonly type: 'ready';
}

export type ResultMessage =
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly pixels: Float32Array; readonly width: number; readonly height: number }
  | { readonly type: 'result'; readonly id: number; readonly ok: false; readonly code: FgClipErrorCode; readonly message: string };

export type WorkerMessage = ReadyMessage | ResultMessage;
