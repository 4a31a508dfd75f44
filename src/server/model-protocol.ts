/** Messages between ModelHost (server thread) and its model worker (model-worker.ts). */
import type { FgClipErrorCode } from '../errors.js';
import type { TextLengths, TextMode } from '../families/types.js';
import type { LoadOptions, TextModeOption } from '../model/handle.js';
import type { DecodeOptions, PreprocessOptions } from '../preprocess/index.js';

/** Load options that can cross a thread (no callbacks). */
export type HostLoadOptions = Omit<LoadOptions, 'hub' | 'onWarning'>;

export interface HostStart {
  readonly model: string;
  readonly options: HostLoadOptions;
}

export interface HostMeta {
  readonly modelDir: string;
  readonly embeddingDim: number;
  readonly textLengths: TextLengths;
  readonly imageSize: number;
  readonly gridSize: number;
  readonly logitScale: number;
  readonly decode: DecodeOptions;
  readonly preprocess: PreprocessOptions;
}

export type HostRequest =
  | { readonly op: 'tokenize'; readonly id: number; readonly texts: readonly string[]; readonly mode: TextModeOption }
  | { readonly op: 'text'; readonly id: number; readonly ids: number[][]; readonly mode: TextMode }
  | { readonly op: 'vision'; readonly id: number; readonly pixels: Float32Array }
  | { readonly op: 'close'; readonly id: number };

export type HostReply =
  | { readonly type: 'ready'; readonly meta: HostMeta }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'failed' | 'result'; readonly id: number; readonly ok: false; readonly code: FgClipErrorCode; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly value: unknown };
