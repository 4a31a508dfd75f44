/**
 * HTTP errors in the OpenAI shape `{error: {message, type, param, code}}`, and the one place where library errors
 * (FgClipError codes) become HTTP statuses. Responses never carry stack traces or internal paths: an error that is
 * not an FgClipError or HttpError is logged by the server and answered with a generic 500.
 */
import { FgClipError, type FgClipErrorCode } from '../errors.js';
import { BatcherClosedError, QueueFullError } from './batcher.js';

/** OpenAI's `error.type` vocabulary, plus the two a batching server needs (overloaded, timeout). */
export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'overloaded_error' | 'timeout_error' | 'server_error';

/** Server-side codes; library failures keep their FgClipError code. */
export type ServerErrorCode =
  | 'INVALID_JSON' // body is not parseable JSON / multipart
  | 'UNSUPPORTED_MEDIA_TYPE' // Content-Type neither JSON nor multipart/form-data
  | 'BODY_TOO_LARGE' // over --max-body-bytes
  | 'UNKNOWN_FIELDS' // request fields this endpoint does not define
  | 'UNSUPPORTED_FIELD' // an OpenAI field we deliberately reject (`dimensions`)
  | 'TOO_MANY_INPUTS' // over --max-inputs / --max-images
  | 'IMAGE_SOURCE_FORBIDDEN' // a file path or URL the server's policy does not allow
  | 'IMAGE_FETCH' // a remote image could not be fetched
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'QUEUE_FULL'
  | 'BODIES_BUSY' // the request bodies being received across all requests fill --max-buffered-bytes
  | 'TIMEOUT'
  | 'CLIENT_CLOSED' // the client went away before the answer (logged as status 499; nothing is sent)
  | 'SHUTTING_DOWN'
  | 'INTERNAL';

export type ErrorCode = FgClipErrorCode | ServerErrorCode;

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** 400 invalid_request_error with the offending field named in `param`. */
export function badRequest(code: ErrorCode, message: string, param: string | null = null): HttpError {
  return new HttpError(400, 'invalid_request_error', code, message, param);
}

/** Status for each library error code: caller mistakes are 4xx, server-side failures 5xx. */
export function statusForCode(code: FgClipErrorCode): number {
  switch (code) {
    case 'INPUT_INVALID':
    case 'BOX_INVALID':
    case 'IMAGE_DECODE':
      return 400;
    case 'IMAGE_TOO_LARGE':
      return 413;
    case 'MODEL_NOT_FOUND':
      return 404;
    case 'DISPOSED':
      return 503;
    case 'COLLECTION_MODEL_MISMATCH':
    case 'COLLECTION_LOCKED':
      return 409;
    case 'COLLECTION_INVALID':
    case 'QUEUE_ERROR':
    case 'ADDRESS_IN_USE':
    case 'WEBGPU_UNAVAILABLE': // browser-only codes: the server never raises them
    case 'STORAGE_QUOTA':
      return 500;
    case 'CONFIG_INVALID':
    case 'WEIGHTS_MALFORMED':
    case 'WEIGHTS_DTYPE':
    case 'WEIGHTS_MISSING':
    case 'WEIGHTS_SHAPE':
    case 'WEIGHTS_UNSAFE':
    case 'WEIGHTS_NONFINITE':
    case 'TOKENIZER_INVALID':
    case 'HUB_ERROR':
    case 'HUB_AUTH':
    case 'OFFLINE':
    case 'DOWNLOAD_CORRUPT':
    case 'RUNTIME':
      return 500;
  }
}

function typeForStatus(status: number): ErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 503) return 'overloaded_error';
  if (status === 504) return 'timeout_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/**
 * Any thrown value → HttpError. `retryAfterS` is what a 503 for a full queue advertises.
 * Unknown errors become a generic 500 (`internal: true`, so the caller logs the original).
 */
export function toHttpError(e: unknown, retryAfterS = 1): { error: HttpError; internal: boolean } {
  if (e instanceof HttpError) return { error: e, internal: false };
  if (e instanceof FgClipError) {
    const status = statusForCode(e.code);
    // 5xx library errors may mention server paths; the log keeps the detail
    if (status >= 500)
      return {
        error: new HttpError(
          status,
          typeForStatus(status),
          e.code,
          status === 503 ? 'the model is not available (server shutting down)' : `the model failed to run this request (${e.code})`,
        ),
        internal: true,
      };
    const param = (e as { param?: unknown }).param;
    return { error: new HttpError(status, typeForStatus(status), e.code, e.message, typeof param === 'string' ? param : null), internal: false };
  }
  if (e instanceof QueueFullError) {
    return {
      error: new HttpError(503, 'overloaded_error', 'QUEUE_FULL', `server busy: ${e.message}. Retry after ${retryAfterS} s.`, null, {
        'Retry-After': String(retryAfterS),
      }),
      internal: false,
    };
  }
  if (e instanceof BatcherClosedError) return { error: shuttingDown(), internal: false };
  return { error: new HttpError(500, 'server_error', 'INTERNAL', 'internal server error (details are in the server log)'), internal: true };
}

export function shuttingDown(): HttpError {
  return new HttpError(503, 'overloaded_error', 'SHUTTING_DOWN', 'the server is shutting down; retry on another instance', null, {
    'Retry-After': '1',
    Connection: 'close',
  });
}

export function errorBody(e: HttpError): { error: { message: string; type: ErrorType; param: string | null; code: ErrorCode } } {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}
