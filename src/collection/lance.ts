/**
 * LanceDB access for collections. Arrow is loaded through `createRequire`: LanceDB is CommonJS and brings its own
 * `apache-arrow` instance, and schemas built with an ESM copy are "not equivalent" to its own (engine-notes).
 * A collection is one LanceDB database: a local folder or an S3-compatible prefix (`s3://bucket/prefix` with
 * `storageOptions`).
 */
import { createRequire } from 'node:module';
import type * as Lance from '@lancedb/lancedb';
import { FgClipError } from '../errors.js';

const require = createRequire(import.meta.url);

/**
 * A CommonJS module required on first use: `import 'fgclip'` then does not load LanceDB and Arrow (about a third of
 * the package's import time) in processes that never open a collection. Property reads (functions, classes,
 * namespaces) go to the module itself.
 */
function onFirstUse<T extends object>(load: () => T): T {
  let m: T | undefined;
  return new Proxy({} as T, { get: (_, key) => Reflect.get((m ??= load()), key) });
}

export const arrow = onFirstUse(() => require('apache-arrow') as typeof import('apache-arrow'));
export const lancedb = onFirstUse(() => {
  // LanceDB's native logger prints warnings (k-means on small tables, deprecations) to stderr; our CLI promises one
  // clear line per error, so only its errors are shown unless LANCEDB_LOG asks for more. Set before the module loads.
  process.env.LANCEDB_LOG ??= 'error';
  return require('@lancedb/lancedb') as typeof Lance;
});

export type Table = Lance.Table;
export type Connection = Lance.Connection;

/** S3-compatible storage settings, passed to LanceDB as `storageOptions` (endpoint, allow_http, keys, region). */
export type StorageOptions = Readonly<Record<string, string>>;

export const IMAGES = 'images';
export const REGIONS = 'regions';
export const META = 'meta';

function vectorField(dim: number) {
  return new arrow.Field('vector', new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), true)), false);
}

/** One row per distinct image content (sha256 of the file's bytes). */
export function imagesSchema(dim: number) {
  return new arrow.Schema([
    new arrow.Field('sha256', new arrow.Utf8(), false),
    new arrow.Field('path', new arrow.Utf8(), false),
    new arrow.Field('width', new arrow.Int32(), false),
    new arrow.Field('height', new arrow.Int32(), false),
    new arrow.Field('bytes', new arrow.Float64(), false),
    new arrow.Field('mtime', new arrow.Float64(), false),
    vectorField(dim),
  ]);
}

/** One row per stored region box of an image; `rid` = `<sha256>:<k>`; boxes in original-image pixels. */
export function regionsSchema(dim: number) {
  return new arrow.Schema([
    new arrow.Field('rid', new arrow.Utf8(), false),
    new arrow.Field('sha256', new arrow.Utf8(), false),
    new arrow.Field('x1', new arrow.Float32(), false),
    new arrow.Field('y1', new arrow.Float32(), false),
    new arrow.Field('x2', new arrow.Float32(), false),
    new arrow.Field('y2', new arrow.Float32(), false),
    vectorField(dim),
  ]);
}

export function metaSchema() {
  return new arrow.Schema([new arrow.Field('key', new arrow.Utf8(), false), new arrow.Field('json', new arrow.Utf8(), false)]);
}

export function isRemote(uri: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(uri);
}

export async function connect(uri: string, storageOptions: StorageOptions | undefined, readConsistencySeconds: number): Promise<Connection> {
  try {
    return await lancedb.connect(uri, {
      readConsistencyInterval: readConsistencySeconds,
      ...(storageOptions ? { storageOptions: { ...storageOptions } } : {}),
    });
  } catch (e) {
    throw new FgClipError('COLLECTION_INVALID', `collection ${uri}: cannot open it (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
}

/** SQL string literal. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A shell-style glob (`*`, `?`) as a SQL LIKE pattern with `\` as the escape character. */
export function globToLike(glob: string): string {
  let out = '';
  for (const ch of glob) {
    if (ch === '*') out += '%';
    else if (ch === '?') out += '_';
    else if (ch === '%' || ch === '_' || ch === '\\') out += '\\' + ch;
    else out += ch;
  }
  return out;
}
