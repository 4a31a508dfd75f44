/**
 * Collection endpoints (issue 11), thin over src/collection; model work goes through the engine's batchers like
 * every other route:
 *   GET  /v1/collection          stats: images, region rows, model, whether the ANN index is in use
 *   POST /v1/collection/search   {text | image, regions?, top_k?, filter?, thumbnails?} → results best first, score = cosine
 *   POST /v1/collection/add      {paths?: ["file:…"] under --image-root, images?: [uploaded files, data URIs, base64]}
 *                                → embedded and upserted by content (idempotent); uploads are kept as files
 *                                (<collection>/uploads/<sha256>.<ext>) since a collection stores paths
 *   POST /v1/collection/remove   {paths: [...]} stored paths → removed with their regions
 * Writes take the collection's writer lock for the request (409 COLLECTION_LOCKED while an index run holds it).
 */
import { mkdir, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Collection, type Filter } from '../collection/collection.js';
import { recordOf } from '../collection/embed.js';
import { isRemote } from '../collection/lance.js';
import { schemeBoxes } from '../collection/regions.js';
import { sha256 } from '../cache/model-identity.js';
import { queryTextMode } from '../tasks/search.js';
import { checkModel, embedImages, encoder, type Ctx, type Handler } from './context.js';
import { badRequest, HttpError } from './http-error.js';
import { loadImageBytes } from './images.js';
import type { RequestObject } from './body.js';
import { checkFields, has, imageList, imageOf, optBool, optInt, optString, stringList, tooMany } from './validate.js';

function collectionOf(ctx: Ctx): Collection {
  if (!ctx.collection) throw new HttpError(404, 'not_found_error', 'NOT_FOUND', 'this server has no collection (start it with fgclip serve --collection PATH)');
  return ctx.collection;
}

export async function collectionStats(ctx: Ctx): Promise<unknown> {
  const s = await collectionOf(ctx).stats();
  return {
    object: 'collection',
    uri: s.uri,
    images: s.images,
    regions: s.regions,
    region_scheme: s.regionScheme,
    indexed: s.indexed,
    version: s.version,
    model: { name: s.model.name, dimensions: s.model.dim, image_size: s.model.imageSize },
  };
}

const FILTER_FIELDS = ['path', 'min_width', 'max_width', 'min_height', 'max_height', 'modified_after', 'modified_before'];

function filterOf(body: RequestObject): Filter | undefined {
  if (!has(body, 'filter')) return undefined;
  const f = body.filter;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) throw badRequest('INPUT_INVALID', 'filter: expected an object', 'filter');
  const o = f as RequestObject;
  checkFields(o, FILTER_FIELDS, 'filter');
  const int = (k: string) => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw badRequest('INPUT_INVALID', `filter.${k}: expected a non-negative integer`, `filter.${k}`);
    return v;
  };
  const time = (k: string) => {
    const v = o[k];
    if (v === undefined) return undefined;
    const t = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
    if (!Number.isFinite(t)) throw badRequest('INPUT_INVALID', `filter.${k}: expected an ISO 8601 date or ms since the epoch`, `filter.${k}`);
    return t;
  };
  const path = o.path;
  if (path !== undefined && (typeof path !== 'string' || path === ''))
    throw badRequest('INPUT_INVALID', 'filter.path: expected a non-empty pattern (* and ? wildcards)', 'filter.path');
  return {
    path: path as string | undefined,
    minWidth: int('min_width'),
    maxWidth: int('max_width'),
    minHeight: int('min_height'),
    maxHeight: int('max_height'),
    modifiedAfter: time('modified_after'),
    modifiedBefore: time('modified_before'),
  };
}

const SEARCH_FIELDS = ['model', 'text', 'image', 'regions', 'top_k', 'filter', 'thumbnails'];

export const collectionSearch: Handler = async (body, ctx) => {
  checkFields(body, SEARCH_FIELDS, 'POST /v1/collection/search');
  checkModel(body, ctx);
  const coll = collectionOf(ctx);
  const text = optString(body, 'text');
  if ((text === undefined) === !has(body, 'image')) throw badRequest('INPUT_INVALID', 'give either "text" or "image" as the query', 'text');
  if (text !== undefined && text.trim() === '') throw badRequest('INPUT_INVALID', 'text: the query is empty', 'text');
  const regions = optBool(body, 'regions', false);
  const top = optInt(body, 'top_k', 1, 100) ?? 10;
  const thumbs = optInt(body, 'thumbnails', 16, 512);
  const filter = filterOf(body);
  let q: Float32Array;
  if (text !== undefined) {
    const enc = encoder(ctx, { texts: 'text' });
    q = (await enc.encodeTexts([text], { mode: queryTextMode(enc, regions) })).embeddings[0];
  } else q = (await embedImages([imageOf(body.image, 'image')], () => 'image', ctx))[0];
  const hits = regions ? await coll.searchRegionsVector(q, { top, filter }) : await coll.searchVector(q, { top, filter });
  const results = await Promise.all(
    hits.map(async (h) => ({
      path: h.path,
      score: h.score,
      width: h.width,
      height: h.height,
      modified: new Date(h.mtime).toISOString(),
      ...(h.box ? { box: h.box } : {}),
      ...(thumbs ? { thumbnail: await thumbnail(h.path, thumbs) } : {}),
    })),
  );
  return { json: { object: 'list', score: 'cosine', regions, results } };
};

/** A JPEG data URI of a stored image, at most `size` pixels on its longer side (null when the file is gone). */
async function thumbnail(path: string, size: number): Promise<string | null> {
  try {
    const buf = await sharp(path, { limitInputPixels: 100_000_000 }).resize(size, size, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer();
    return `data:image/jpeg;base64,${buf.toString('base64')}`;
  } catch {
    return null;
  }
}

const ADD_FIELDS = ['model', 'paths', 'images'];

/** File extension of an encoded image, from its first bytes (uploads are stored under their content hash). */
function imageExtension(b: Buffer): string {
  if (b[0] === 0xff && b[1] === 0xd8) return '.jpg';
  if (b.subarray(0, 4).toString('latin1') === '\x89PNG') return '.png';
  if (b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP') return '.webp';
  if (b.subarray(0, 3).toString('latin1') === 'GIF') return '.gif';
  if (b.subarray(0, 2).toString('latin1') === 'BM') return '.bmp';
  if (['II*\0', 'MM\0*'].includes(b.subarray(0, 4).toString('latin1'))) return '.tiff';
  return '.img';
}

/**
 * Where uploaded images are kept: `<collection>/uploads` for a collection on local disk; for one on remote storage,
 * `<image root>/uploads` (a collection stores paths, and thumbnails are read from them).
 */
function uploadDir(coll: Collection, ctx: Ctx): string {
  if (!isRemote(coll.uri)) return join(coll.uri, 'uploads');
  if (ctx.images.imageRoot) return join(ctx.images.imageRoot, 'uploads');
  throw badRequest(
    'IMAGE_SOURCE_FORBIDDEN',
    "images: this server's collection is on remote storage; uploads are kept as files under the image root (start it with --image-root DIR), or add file: paths",
    'images',
  );
}

/** Writes an upload as `<dir>/<sha256>.<ext>` (atomically: a temporary name, then rename); returns its path. */
async function keepUpload(dir: string, data: Buffer, sha: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${sha}${imageExtension(data)}`);
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
  return path;
}

export const collectionAdd: Handler = async (body, ctx) => {
  checkFields(body, ADD_FIELDS, 'POST /v1/collection/add');
  checkModel(body, ctx);
  const coll = collectionOf(ctx);
  if (!has(body, 'paths') && !has(body, 'images'))
    throw badRequest('INPUT_INVALID', 'give "paths" (file:NAME under the image root) and/or "images" (uploaded files, data URIs or base64)', 'images');
  const refs = has(body, 'paths') ? stringList(body, 'paths', ctx.limits.maxImages, 'image paths (file:NAME under the image root)') : [];
  refs.forEach((r, i) => {
    if (!/^file:/i.test(r))
      throw badRequest(
        'INPUT_INVALID',
        `paths[${i}]: expected file:NAME under the server's image root (a collection stores paths; send image bytes in "images")`,
        `paths[${i}]`,
      );
  });
  const uploads = has(body, 'images') ? imageList(body, 'images', ctx.limits.maxImages) : [];
  uploads.forEach((u, i) => {
    if (typeof u === 'string' && /^file:/i.test(u)) throw badRequest('INPUT_INVALID', `images[${i}]: file paths go in "paths"`, `images[${i}]`);
  });
  if (refs.length + uploads.length > ctx.limits.maxImages) throw tooMany('paths + images', refs.length + uploads.length, ctx.limits.maxImages);
  const dir = uploads.length > 0 ? uploadDir(coll, ctx) : undefined;
  // policy checks (inside the root, regular file, size) as for any file: image, then the real path is stored
  const fileBytes = await Promise.all(refs.map((r, i) => loadImageBytes(r, `paths[${i}]`, ctx.images, ctx.signal)));
  const root = ctx.images.imageRoot as string;
  const filePaths = await Promise.all(refs.map((r) => realpath(resolve(root, r.startsWith('file://') ? fileURLToPath(r) : r.slice('file:'.length)))));
  const upBytes = await Promise.all(uploads.map((u, i) => loadImageBytes(u, `images[${i}]`, ctx.images, ctx.signal)));
  const bytes = [...fileBytes, ...upBytes];
  const field = (i: number) => (i < refs.length ? `paths[${i}]` : `images[${i - refs.length}]`);
  const boxes = schemeBoxes(coll.info.regions, coll.info.grid);
  // everything is decoded and embedded before anything is written: a bad image fails the request with no change.
  // One vision pass per image through the server's encoder: raw global embedding and dense map (regions pooled by recordOf)
  const enc = await encoder(ctx, { image: field }).encodeImages(bytes, { normalize: false, dense: boxes.length > 0 });
  const shas = bytes.map((b) => sha256(b));
  const paths = [...filePaths, ...(await Promise.all(upBytes.map((b, i) => keepUpload(dir as string, b, shas[refs.length + i]))))];
  const records = await Promise.all(
    paths.map(async (p, i) => {
      const st = await stat(p);
      return recordOf({ path: p, sha256: shas[i], bytes: bytes[i].length, mtime: st.mtimeMs }, enc[i], boxes, coll.info.grid, coll.info.dim);
    }),
  );
  const before = new Map((await coll.entries()).map((e) => [e.sha256, e.path]));
  await withLock(coll, 'fgclip serve (POST /v1/collection/add)', () => coll.upsert(records));
  const added = records.filter((r) => !before.has(r.sha256)).length;
  return {
    json: {
      object: 'collection.add',
      added,
      updated: records.filter((r) => before.has(r.sha256) && before.get(r.sha256) !== r.path).length,
      unchanged: records.filter((r) => before.get(r.sha256) === r.path).length,
      total: await coll.images.countRows(),
      paths,
    },
  };
};

const REMOVE_FIELDS = ['model', 'paths'];

export const collectionRemove: Handler = async (body, ctx) => {
  checkFields(body, REMOVE_FIELDS, 'POST /v1/collection/remove');
  checkModel(body, ctx);
  const coll = collectionOf(ctx);
  const paths = new Set(stringList(body, 'paths', ctx.limits.maxInputs, 'stored paths to remove'));
  const shas = (await coll.entries()).filter((e) => paths.has(e.path)).map((e) => e.sha256);
  await withLock(coll, 'fgclip serve (POST /v1/collection/remove)', () => coll.remove(shas));
  return { json: { object: 'collection.remove', removed: shas.length, total: await coll.images.countRows() } };
};

async function withLock<T>(coll: Collection, what: string, fn: () => Promise<T>): Promise<T> {
  const lock = Collection.lock(coll.uri, what);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
