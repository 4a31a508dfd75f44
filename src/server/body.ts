/**
 * Request bodies: read under a byte limit (413 as soon as Content-Length or the bytes received pass it), then
 * parsed as JSON or multipart/form-data into one plain request object that the endpoint validates.
 *
 * Multipart convention (so `curl -F` works): a request is the JSON request with its images as file parts.
 * Text parts carry JSON values (`-F 'labels=["a cat","a dog"]'`); a text part that is not valid JSON is taken as a
 * plain string (`-F texts="white cat"`); file parts become uploaded images; a repeated name becomes a list
 * (`-F labels="a cat" -F labels="a dog"`, OpenAPI's form style for arrays). Label lists also take one plain part
 * with commas (`-F labels="a cat,a dog"`, as the CLI's --labels): see `formPlainText` and validate.ts `stringList`.
 */
import type { IncomingMessage } from 'node:http';
import { badRequest, HttpError } from './http-error.js';
import { parseMultipart } from './multipart.js';

/** An image uploaded as a multipart file part. JSON bodies cannot produce this class, so it is unambiguous. */
export class UploadedImage {
  constructor(
    readonly data: Buffer,
    readonly filename: string | undefined,
  ) {}
}

export type RequestObject = Record<string, unknown>;

/** Multipart fields sent once as plain (non-JSON) text: a symbol key, so field checks never see it. */
const FORM_PLAIN = Symbol('multipart fields given once as plain text');

/** Whether `field` came from multipart as a single plain-text part (not JSON, not repeated). */
export function formPlainText(body: RequestObject, field: string): boolean {
  return (body as { [FORM_PLAIN]?: Set<string> })[FORM_PLAIN]?.has(field) ?? false;
}

export function bodyTooLarge(limit: number, got: number | string): HttpError {
  return new HttpError(
    413,
    'invalid_request_error',
    'BODY_TOO_LARGE',
    `request body too large (at most ${limit} bytes, got ${got}). Send fewer or smaller images, or raise --max-body-bytes.`,
    null,
    { Connection: 'close' },
  );
}

/**
 * Body bytes held across all requests at once: a request's bytes count from arrival until its response ends, and a
 * request whose body would pass the total is refused with 503 + Retry-After (memory bounded by the budget, not by
 * connections × --max-body-bytes).
 */
export class BodyBudget {
  used = 0;
  constructor(
    readonly total: number,
    private readonly retryAfterS = 1,
  ) {}

  /** Counts `n` more bytes for a request (its `held` tally), or throws 503 when the total would be passed. */
  take(held: { bytes: number }, n: number): void {
    if (this.used + n > this.total) {
      throw new HttpError(
        503,
        'overloaded_error',
        'BODIES_BUSY',
        `server busy: the request bodies being received fill the buffer budget (${this.total} bytes). Retry after ${this.retryAfterS} s.`,
        null,
        { 'Retry-After': String(this.retryAfterS), Connection: 'close' },
      );
    }
    this.used += n;
    held.bytes += n;
  }

  release(held: { bytes: number }): void {
    this.used -= held.bytes;
    held.bytes = 0;
  }
}

/**
 * Reads the whole body, failing with 413 past `limit` bytes (checked on Content-Length first) and with 503 when the
 * global `budget` (across requests) is full; the bytes stay counted in `held` until the caller releases them.
 */
export function readBody(req: IncomingMessage, limit: number, budget?: BodyBudget, held: { bytes: number } = { bytes: 0 }): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(bodyTooLarge(limit, Number(declared)));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(bodyTooLarge(limit, `more than ${limit}`));
        return;
      }
      try {
        budget?.take(held, c.length);
      } catch (e) {
        failed = true;
        chunks.length = 0;
        reject(e);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => !failed && resolve(Buffer.concat(chunks, size)));
    req.on('error', (e) => !failed && reject(e));
    req.on('aborted', () => !failed && reject(new HttpError(400, 'invalid_request_error', 'INVALID_JSON', 'the client aborted the request body')));
  });
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/** Body bytes → request object, by Content-Type (JSON when absent). */
export function parseBody(body: Buffer, contentType: string | undefined): RequestObject {
  const type = mediaType(contentType);
  if (type === 'multipart/form-data') return fromMultipart(body, contentType as string);
  if (type !== '' && type !== 'application/json' && !type.endsWith('+json')) {
    throw new HttpError(
      415,
      'invalid_request_error',
      'UNSUPPORTED_MEDIA_TYPE',
      `unsupported Content-Type ${JSON.stringify(type)} (expected application/json or multipart/form-data; with curl add -H 'content-type: application/json')`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw badRequest('INVALID_JSON', `the request body is not valid JSON (${(e as Error).message}). Send a JSON object.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(
      'INVALID_JSON',
      `the request body must be a JSON object (got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})`,
    );
  }
  return value as RequestObject;
}

function fromMultipart(body: Buffer, contentType: string): RequestObject {
  const fields = new Map<string, unknown[]>();
  const plain = new Set<string>();
  for (const part of parseMultipart(body, contentType)) {
    const isFile = part.filename !== undefined || /^(image\/|application\/octet-stream)/i.test(part.contentType ?? '');
    let value: unknown;
    if (isFile) value = new UploadedImage(part.data, part.filename);
    else {
      const text = part.data.toString('utf8');
      try {
        value = JSON.parse(text);
      } catch {
        value = text;
        plain.add(part.name);
      }
    }
    const list = fields.get(part.name) ?? [];
    list.push(value);
    fields.set(part.name, list);
  }
  // fromEntries defines own properties, so a part named "__proto__" is an (unknown) field, not a prototype
  const out: RequestObject = Object.fromEntries([...fields].map(([k, v]) => [k, v.length === 1 ? v[0] : v]));
  const single = new Set([...plain].filter((k) => fields.get(k)?.length === 1));
  Object.defineProperty(out, FORM_PLAIN, { value: single, enumerable: false });
  return out;
}
