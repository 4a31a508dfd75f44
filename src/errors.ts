/**
 * Every failure the library reports is an `FgClipError` with a `code` from this closed union.
 * Messages follow "<where>: <what> (expected X, got Y). <hint>". Library code throws; only the CLI turns
 * errors into exit codes and only the server turns them into HTTP statuses (see `httpStatusFor`).
 */
export type FgClipErrorCode =
  | 'CONFIG_INVALID' // config.json / preprocessor_config.json / tokenizer files missing or inconsistent
  | 'WEIGHTS_MALFORMED' // a weight file that cannot be parsed safely (truncated, bad header, bad offsets)
  | 'WEIGHTS_DTYPE' // a tensor stored in a dtype we do not accept
  | 'WEIGHTS_MISSING' // an expected tensor is absent
  | 'WEIGHTS_SHAPE' // a tensor has the wrong shape
  | 'WEIGHTS_UNSAFE' // a pickle that asks for anything but tensor rebuilding
  | 'WEIGHTS_NONFINITE' // a tensor holding NaN or ±Inf
  | 'TOKENIZER_INVALID' // tokenizer files unusable
  | 'IMAGE_DECODE' // bytes that are not a supported image, or a corrupt one
  | 'IMAGE_TOO_LARGE' // over the configured pixel limit (decompression bomb guard)
  | 'INPUT_INVALID' // an argument of the wrong kind (empty list, bad mode, ...)
  | 'BOX_INVALID' // a region box that is outside the image or inverted
  | 'MODEL_NOT_FOUND' // neither a folder nor a repo id the hub knows
  | 'HUB_ERROR' // the hub answered with an error or the download failed
  | 'HUB_AUTH' // 401/403 from the hub
  | 'OFFLINE' // HF_HUB_OFFLINE and the files are not in the cache
  | 'DOWNLOAD_CORRUPT' // size or hash mismatch after download
  | 'RUNTIME' // ONNX Runtime failed
  | 'DISPOSED' // the model was disposed
  | 'COLLECTION_INVALID' // a collection that cannot be opened, or whose stored data is inconsistent
  | 'COLLECTION_MODEL_MISMATCH' // a collection queried or indexed with another model than the one it holds
  | 'COLLECTION_LOCKED' // another writer (index run, server) holds the collection's lock
  | 'QUEUE_ERROR' // the job queue (Redis/BullMQ) failed or cannot be reached
  | 'ADDRESS_IN_USE' // the server's host:port is taken by another process (or not allowed)
  | 'WEBGPU_UNAVAILABLE' // device 'webgpu' asked for, but the browser has no WebGPU adapter or it cannot run the model
  | 'STORAGE_QUOTA'; // the browser's storage quota (OPFS) has no room for the model's files

export class FgClipError extends Error {
  override readonly name = 'FgClipError';
  readonly code: FgClipErrorCode;
  /** machine-readable facts of some errors (e.g. STORAGE_QUOTA: bytes needed and available; WEBGPU_UNAVAILABLE: reason) */
  readonly details?: Readonly<Record<string, unknown>>;
  constructor(code: FgClipErrorCode, message: string, options?: { cause?: unknown; details?: Readonly<Record<string, unknown>> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options?.details) this.details = options.details;
  }
}

export function isFgClipError(e: unknown): e is FgClipError {
  return e instanceof FgClipError;
}

export function assertNever(x: never, what: string): never {
  throw new FgClipError('INPUT_INVALID', `${what}: unexpected value ${JSON.stringify(x)}`);
}
