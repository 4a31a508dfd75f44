/**
 * Where request images come from, and the server's policy for each source:
 * - uploaded file parts (multipart) and `data:image/…;base64,…` URIs and raw base64 strings: always accepted;
 * - `file:relative/path`: only with `imageRoot` set; the path must stay inside the root after resolving `..` and
 *   symlinks (the real path is checked, and the real path is what gets opened);
 * - `http(s)://…`: only with `allowRemote`; never private/loopback/link-local hosts unless `allowPrivate`
 *   (net-guard.ts), with a byte limit and a timeout.
 * Bytes are returned undecoded; decoding (and its IMAGE_DECODE / IMAGE_TOO_LARGE errors) is the model's job.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FgClipError } from '../errors.js';
import { fileKind, readRegular } from '../platform/node/regular-file.js';
import { UploadedImage } from './body.js';
import { badRequest, HttpError } from './http-error.js';
import { fetchRemote, RemoteFetchError } from './net-guard.js';
import type { ImageRef } from './validate.js';

export interface ImagePolicy {
  /** real path of the folder `file:` paths are read from; undefined disables file paths */
  readonly imageRoot?: string;
  readonly allowRemote: boolean;
  readonly allowPrivate: boolean;
  /** largest image file / remote download, bytes */
  readonly maxImageBytes: number;
  readonly remoteTimeoutMs: number;
}

const forbidden = (field: string, what: string) => badRequest('IMAGE_SOURCE_FORBIDDEN', `${field}: ${what}`, field);

const tooLarge = (field: string, what: string) => new HttpError(413, 'invalid_request_error', 'IMAGE_TOO_LARGE', `${field}: ${what}`, field);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Strict base64 (standard or URL-safe alphabet, whitespace ignored); anything else is a 400. */
export function decodeBase64(s: string, field: string): Buffer {
  const t = s.replace(/\s+/g, '');
  const ok = (BASE64.test(t) || BASE64URL.test(t)) && (t.includes('=') ? t.length % 4 === 0 : t.length % 4 !== 1);
  if (!ok || t.length === 0) {
    throw badRequest(
      'INPUT_INVALID',
      `${field}: not valid base64 (expected a data:image/…;base64,… URI, plain base64 of the image bytes, an http(s) URL, or file:PATH under the server's image root)`,
      field,
    );
  }
  return Buffer.from(t, BASE64.test(t) ? 'base64' : 'base64url');
}

function fromDataUri(s: string, field: string): Buffer {
  const comma = s.indexOf(',');
  const meta = comma < 0 ? '' : s.slice(5, comma).toLowerCase();
  const params = meta.split(';').map((p) => p.trim());
  if (comma < 0 || !params.includes('base64'))
    throw badRequest('INPUT_INVALID', `${field}: a data URI must be base64 encoded (data:image/png;base64,…)`, field);
  const mediaType = params[0];
  if (mediaType !== '' && !mediaType.startsWith('image/') && mediaType !== 'application/octet-stream') {
    throw badRequest('INPUT_INVALID', `${field}: the data URI's media type is ${JSON.stringify(mediaType)} (expected image/*)`, field);
  }
  return decodeBase64(s.slice(comma + 1), field);
}

/** The path a `file:` reference names: `file:relative/path` literally, `file:///abs` / `file://localhost/abs` decoded. */
function filePathOf(spec: string, field: string): string {
  if (!/^file:\/\//i.test(spec)) return spec.slice('file:'.length);
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw badRequest('INPUT_INVALID', `${field}: not a valid file URL`, field);
  }
  if (url.hostname !== '' && url.hostname !== 'localhost') {
    throw badRequest(
      'INPUT_INVALID',
      `${field}: file URLs name a path on this server, not a host (got host ${JSON.stringify(url.hostname)}); use file:///path or file:relative/path`,
      field,
    );
  }
  try {
    return fileURLToPath(url);
  } catch (e) {
    // e.g. an encoded '/' (%2F) or NUL (%00), which no file name can hold
    throw badRequest(
      'INPUT_INVALID',
      `${field}: the file URL's path cannot be a file name (${(e as NodeJS.ErrnoException).code ?? 'invalid'}); encoded '/' and NUL are not allowed`,
      field,
    );
  }
}

async function fromFile(spec: string, field: string, policy: ImagePolicy): Promise<Buffer> {
  const root = policy.imageRoot;
  if (root === undefined) throw forbidden(field, 'file paths are disabled on this server (start it with --image-root DIR to allow them)');
  const given = filePathOf(spec, field);
  if (given.includes('\0')) throw badRequest('INPUT_INVALID', `${field}: a file path cannot contain NUL`, field);
  const inside = (p: string) => {
    const rel = relative(root, p);
    return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
  };
  const full = resolve(root, given);
  if (!inside(full)) throw forbidden(field, `the path ${JSON.stringify(given)} is outside the image root`);
  let real: string;
  try {
    real = await realpath(full);
  } catch {
    throw badRequest('INPUT_INVALID', `${field}: no file ${JSON.stringify(given)} under the image root`, field);
  }
  if (!inside(real)) throw forbidden(field, `the path ${JSON.stringify(given)} leads outside the image root (symlink)`);
  // stat before opening: a FIFO's open would block a libuv pool thread until a writer appears, a device never ends
  let st;
  try {
    st = await stat(real);
  } catch {
    throw badRequest('INPUT_INVALID', `${field}: cannot read ${JSON.stringify(given)}`, field);
  }
  if (!st.isFile()) throw badRequest('INPUT_INVALID', `${field}: ${JSON.stringify(given)} is ${fileKind(st)}, not a regular file`, field);
  if (st.size > policy.maxImageBytes) throw tooLarge(field, `the file is ${st.size} bytes (at most ${policy.maxImageBytes})`);
  try {
    return await readRegular(real, { what: 'image', code: 'INPUT_INVALID', maxBytes: policy.maxImageBytes });
  } catch (e) {
    if (e instanceof FgClipError) throw badRequest('INPUT_INVALID', `${field}: ${e.message.replace(real, JSON.stringify(given))}`, field);
    throw e;
  }
}

async function fromUrl(spec: string, field: string, policy: ImagePolicy, signal?: AbortSignal): Promise<Buffer> {
  if (!policy.allowRemote) throw forbidden(field, 'remote image URLs are disabled on this server (start it with --allow-remote-images to allow them)');
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw badRequest('INPUT_INVALID', `${field}: not a valid URL`, field);
  }
  try {
    return await fetchRemote(url, { allowPrivate: policy.allowPrivate, maxBytes: policy.maxImageBytes, timeoutMs: policy.remoteTimeoutMs }, signal);
  } catch (e) {
    if (!(e instanceof RemoteFetchError)) throw e;
    if (e.kind === 'forbidden') throw forbidden(field, e.message);
    if (e.kind === 'too_large') throw tooLarge(field, e.message);
    throw badRequest('IMAGE_FETCH', `${field}: cannot fetch ${url.origin}${url.pathname}: ${e.message}`, field);
  }
}

/** The encoded bytes of one request image, after the policy checks for its source. */
export async function loadImageBytes(ref: ImageRef, field: string, policy: ImagePolicy, signal?: AbortSignal): Promise<Buffer> {
  let bytes: Buffer;
  if (ref instanceof UploadedImage) bytes = ref.data;
  else if (/^data:/i.test(ref)) bytes = fromDataUri(ref, field);
  else if (/^https?:\/\//i.test(ref)) bytes = await fromUrl(ref, field, policy, signal);
  else if (/^file:/i.test(ref)) bytes = await fromFile(ref, field, policy);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref))
    throw forbidden(field, `unsupported URL scheme ${JSON.stringify(ref.slice(0, ref.indexOf(':')))} (http, https, data and file: are accepted)`);
  else bytes = decodeBase64(ref, field);
  if (bytes.length > policy.maxImageBytes) throw tooLarge(field, `the image is ${bytes.length} bytes (at most ${policy.maxImageBytes})`);
  return bytes;
}
