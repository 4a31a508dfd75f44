/**
 * Content identity of a loaded model, used to key cached embeddings: two folders with the same files share a cache,
 * and an edited config, tokenizer or weight file gets a fresh one.
 *
 * The id is sha256 over (name, content digest) of every file that decides outputs: config.json,
 * preprocessor_config.json, the tokenizer files, and the weights (model.safetensors, its shards and index,
 * pytorch_model.bin). A weight file's digest is free when it lives in the Hugging Face cache: snapshot entries are
 * symlinks to blobs/<etag>, and the etag is the file's sha256 (LFS) or git blob sha1. Otherwise the file is hashed
 * once, and the digest is remembered per (real path, size, mtime, inode) in this process and in
 * `<cache dir>/digests.json`, so a 600 MB checkpoint is read once, not on every run.
 *
 * Image embeddings also depend on the preprocessing the model was loaded with (resolution, squash or crop, mean/std,
 * EXIF orientation); `preprocessFingerprint` hashes the model's own preprocessing of a fixed synthetic image, which
 * captures all of them without reaching into the model's options.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Encoder } from '../model/encoder.js';
import { readRegularSync, statRegularSync } from '../platform/node/regular-file.js';
import { fgclipCacheDir, type CacheSetting } from './vector-store.js';

const IDENTITY_FILES = [
  'config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
];
const WEIGHT_FILE = /^(model.*\.safetensors|model\.safetensors\.index\.json|pytorch_model.*\.bin|pytorch_model\.bin\.index\.json)$/;
const BLOB_NAME = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/** Largest config / tokenizer file hashed into the identity (the readers bound them likewise). */
const MAX_IDENTITY_FILE_BYTES = 128 << 20;

const identities = new WeakMap<Encoder, Promise<string>>();
const digests = new Map<string, string>();

/** sha256 hex identity of the model's files (memoized per model handle). */
export function modelIdentity(model: Encoder, cache: CacheSetting = {}): Promise<string> {
  let id = identities.get(model);
  if (!id) {
    id = folderIdentity(model.modelDir, cache);
    identities.set(model, id);
  }
  return id;
}

export async function folderIdentity(dir: string, cache: CacheSetting = {}): Promise<string> {
  const names = readdirSync(dir)
    .filter((n) => IDENTITY_FILES.includes(n) || WEIGHT_FILE.test(n))
    .sort();
  const h = createHash('sha256');
  for (const n of names) {
    // special files (a FIFO, /dev/zero behind a symlink, a folder) are refused before being opened or hashed
    const digest = WEIGHT_FILE.test(n)
      ? await fileDigest(join(dir, n), cache)
      : sha256(readRegularSync(join(dir, n), { what: n, code: 'CONFIG_INVALID', maxBytes: MAX_IDENTITY_FILE_BYTES }));
    h.update(`${n}\0${digest}\n`);
  }
  return h.digest('hex');
}

/** A content digest of a (possibly large) file: the HF blob name when it is one, else a remembered sha256. */
export async function fileDigest(path: string, cache: CacheSetting = {}): Promise<string> {
  statRegularSync(path, { what: 'weight file', code: 'WEIGHTS_MALFORMED', missingCode: 'WEIGHTS_MISSING' });
  const real = realpathSync(path);
  const blob = basename(real);
  if (BLOB_NAME.test(blob) && basename(dirname(real)) === 'blobs') return `blob:${blob}`;
  const st = statSync(real);
  const statKey = `${real}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  const known = digests.get(statKey) ?? readDigestMemo(cache)[statKey];
  if (known) {
    digests.set(statKey, known);
    return known;
  }
  const digest = `sha256:${await streamSha256(real)}`;
  digests.set(statKey, digest);
  writeDigestMemo(cache, statKey, digest);
  return digest;
}

/**
 * Hash of the model's preprocessing of a fixed 5×3 image plus the decode options: equal iff image embeddings of the
 * same bytes are equal (same resolution, resize mode, mean/std, rescale factor, orientation handling).
 */
export async function preprocessFingerprint(model: Encoder): Promise<string> {
  const data = new Uint8Array(5 * 3 * 3).map((_, i) => (i * 37 + 11) % 256);
  const { pixels } = await model.preprocess({ width: 5, height: 3, data });
  const h = createHash('sha256');
  h.update(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength));
  h.update(JSON.stringify({ size: model.imageSize, autoOrient: model.decodeOptions().autoOrient ?? false }));
  return h.digest('hex');
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function streamSha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

function memoPath(cache: CacheSetting): string | undefined {
  return cache === false ? undefined : join(fgclipCacheDir(cache), 'v1', 'digests.json');
}

function readDigestMemo(cache: CacheSetting): Record<string, string> {
  const p = memoPath(cache);
  if (!p || !existsSync(p)) return {};
  try {
    const j = JSON.parse(readFileSync(p, 'utf8')) as unknown;
    return typeof j === 'object' && j !== null && !Array.isArray(j) ? (j as Record<string, string>) : {};
  } catch {
    return {}; // a damaged memo only costs one re-hash
  }
}

function writeDigestMemo(cache: CacheSetting, key: string, digest: string): void {
  const p = memoPath(cache);
  if (!p) return;
  try {
    mkdirSync(dirname(p), { recursive: true });
    // one entry per file, and none for files that are gone (temp copies, replaced snapshots): the memo stays small
    const path = key.split('\0')[0];
    const kept = Object.entries(readDigestMemo(cache)).filter(([k]) => k.split('\0')[0] !== path && existsSync(k.split('\0')[0]));
    const memo = { ...Object.fromEntries(kept), [key]: digest };
    const tmp = `${p}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(memo));
    renameSync(tmp, p);
  } catch {
    // the memo is an optimization: an unwritable cache folder surfaces when the vector store is opened
  }
}
