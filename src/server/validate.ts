/**
 * Strict request validation (style P13): unknown fields are rejected with the full list, wrong types name the
 * field, the expected type and what came; nothing is silently ignored or coerced except the documented
 * "one value or a list" for list fields (so multipart and OpenAI's `input: string` work).
 */
import type { PixelBox } from '../model/boxes.js';
import { formPlainText, UploadedImage, type RequestObject } from './body.js';
import { badRequest, type HttpError } from './http-error.js';

/** A JSON string (data URI, base64, URL or file: path) or an uploaded file part. */
export type ImageRef = string | UploadedImage;

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof UploadedImage) return 'an uploaded file';
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : `the string ${JSON.stringify(v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

const typeError = (field: string, expected: string, got: unknown) =>
  badRequest('INPUT_INVALID', `${field}: expected ${expected} (got ${describe(got)})`, field);

/** Rejects fields outside `allowed`, listing all of them at once. */
export function checkFields(body: RequestObject, allowed: readonly string[], endpoint: string): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw badRequest(
      'UNKNOWN_FIELDS',
      `${endpoint}: unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')} (allowed: ${allowed.join(', ')})`,
      unknown[0],
    );
  }
}

export function has(body: RequestObject, field: string): boolean {
  return Object.hasOwn(body, field) && body[field] !== undefined;
}

export function requireField(body: RequestObject, field: string, what: string): unknown {
  if (!has(body, field) || body[field] === null) throw badRequest('INPUT_INVALID', `${field} is required (${what})`, field);
  return body[field];
}

export function optString(body: RequestObject, field: string): string | undefined {
  if (!has(body, field)) return undefined;
  const v = body[field];
  if (typeof v !== 'string') throw typeError(field, 'a string', v);
  return v;
}

export function optEnum<T extends string>(body: RequestObject, field: string, values: readonly T[], fallback: T): T {
  const v = optString(body, field);
  if (v === undefined) return fallback;
  if (!(values as readonly string[]).includes(v))
    throw badRequest('INPUT_INVALID', `${field}: expected one of ${values.map((x) => JSON.stringify(x)).join(', ')} (got ${JSON.stringify(v)})`, field);
  return v as T;
}

export function optBool(body: RequestObject, field: string, fallback: boolean): boolean {
  if (!has(body, field)) return fallback;
  const v = body[field];
  if (typeof v !== 'boolean') throw typeError(field, 'true or false', v);
  return v;
}

export function optInt(body: RequestObject, field: string, min: number, max: number): number | undefined {
  if (!has(body, field)) return undefined;
  const v = body[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw typeError(field, `an integer in [${min}, ${max}]`, v);
  return v;
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

/** A non-empty string or list of non-empty strings, at most `max` of them (else 400 TOO_MANY_INPUTS). */
/**
 * A list of strings: a JSON list, one string, or repeated multipart parts. `commas`: a label list, where one
 * multipart plain-text part is split at commas (`-F labels="a cat,a dog"`, as the CLI's --labels; send a JSON
 * list or repeated parts for labels that contain commas). JSON strings are never split.
 */
export function stringList(body: RequestObject, field: string, max: number, what: string, opts: { commas?: boolean } = {}): string[] {
  const raw = requireField(body, field, what);
  const list = opts.commas && typeof raw === 'string' && formPlainText(body, field) ? raw.split(',').map((x) => x.trim()) : asList(raw);
  if (list.length === 0) throw badRequest('INPUT_INVALID', `${field}: the list is empty (${what})`, field);
  if (list.length > max) throw tooMany(field, list.length, max);
  list.forEach((x, i) => {
    if (typeof x !== 'string') throw typeError(`${field}[${i}]`, 'a string', x);
    if (x.trim() === '') throw badRequest('INPUT_INVALID', `${field}[${i}]: the string is empty`, `${field}[${i}]`);
  });
  return list as string[];
}

export function imageOf(v: unknown, field: string): ImageRef {
  if (typeof v === 'string' || v instanceof UploadedImage) {
    if (typeof v === 'string' && v.length === 0) throw badRequest('INPUT_INVALID', `${field}: the image string is empty`, field);
    return v;
  }
  throw typeError(field, 'an image: a data URI, base64 string, http(s) URL, file: path, or an uploaded file', v);
}

export function imageList(body: RequestObject, field: string, max: number): ImageRef[] {
  const list = asList(requireField(body, field, 'one image or a list of images'));
  if (list.length === 0) throw badRequest('INPUT_INVALID', `${field}: the list of images is empty`, field);
  if (list.length > max) throw tooMany(field, list.length, max);
  return list.map((x, i) => imageOf(x, `${field}[${i}]`));
}

export function singleImage(body: RequestObject, field: string): ImageRef {
  const v = requireField(body, field, 'one image');
  if (Array.isArray(v)) throw typeError(field, 'exactly one image', v);
  return imageOf(v, field);
}

/** Boxes `[[x1, y1, x2, y2], …]` in original-image pixels (range checks happen against the decoded image). */
export function boxList(body: RequestObject, field: string, max: number): PixelBox[] {
  const v = requireField(body, field, 'a list of [x1, y1, x2, y2] pixel boxes');
  if (!Array.isArray(v)) throw typeError(field, 'a list of [x1, y1, x2, y2] boxes', v);
  if (v.length === 0) throw badRequest('INPUT_INVALID', `${field}: the list of boxes is empty`, field);
  if (v.length > max) throw tooMany(field, v.length, max);
  return v.map((b, i) => {
    if (!Array.isArray(b) || b.length !== 4 || !b.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw typeError(`${field}[${i}]`, 'four finite numbers [x1, y1, x2, y2] in pixels', b);
    }
    return [b[0], b[1], b[2], b[3]] as const;
  });
}

export function tooMany(field: string, got: number, max: number): HttpError {
  return badRequest('TOO_MANY_INPUTS', `${field}: too many inputs (at most ${max} per request, got ${got}). Split the request.`, field);
}
