/** Messages between ModelHost (server thread) and its model worker (model-worker.ts). */
import type { FgClipErrorCode } from '../errors.js';
import type { TextMode } from '../families/types.js';
import type { LoadOptions } from '../model/handle.js';
import type { PlanOptions } from './served-model.js';
import type { RgbImage } from '../preprocess/index.js';
import type { DecodedOptions, ServedModelInfo } from './served-model.js';

/**
 * Load options that can cross a thread: no callbacks (warnings come back as messages), no Hub options (the folder
 * was resolved before the worker started), no injected runtime (the worker uses Node's onnxruntime-node).
 */
export type HostLoadOptions = Omit<LoadOptions, 'hub' | 'onWarning' | 'runtime'>;

export interface HostStart {
  readonly model: string;
  readonly options: HostLoadOptions;
  /** nice value the model worker lowers itself to before loading (its ONNX Runtime threads inherit it) */
  readonly nice?: number;
}

export type HostRequest =
  | { readonly op: 'plan'; readonly id: number; readonly texts: readonly string[]; readonly opts: PlanOptions }
  | { readonly op: 'text'; readonly id: number; readonly ids: number[][]; readonly mode: TextMode }
  | { readonly op: 'vision'; readonly id: number; readonly pixels: Float32Array | Float32Array[]; readonly dense: boolean }
  | { readonly op: 'decoded'; readonly id: number; readonly images: RgbImage[]; readonly opts: DecodedOptions }
  | { readonly op: 'close'; readonly id: number };

export type HostReply =
  | { readonly type: 'ready'; readonly info: ServedModelInfo }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'failed' | 'result'; readonly id: number; readonly ok: false; readonly code: FgClipErrorCode; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly value: unknown };
