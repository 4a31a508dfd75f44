/**
 * On-disk embedding cache, so prompt sets and image folders are encoded once per model.
 *
 * Layout: `<dir>/v1/<model id>/<store>.vec`, where the model id is a content hash of everything that decides the
 * model's outputs (config, preprocessor and tokenizer files, weight file contents; see model-identity.ts) and the
 * store name adds what else changes an embedding (the preprocessing fingerprint for images). Each store is an
 * append-only file: a 16-byte header ("FGCV", version, dim) then records of
 * [32-byte sha256 key | dim float32 LE | 8-byte check = first 8 bytes of sha256(key ‖ floats)].
 * Appends are one write() of whole records (O_APPEND), so concurrent writers never interleave inside a record;
 * a torn tail left by a crash is cut off the next time the store is opened. A repeated key keeps its last record.
 * Integrity: a record whose check does not match (a flipped bit on disk) is dropped with a warning and the file is
 * rewritten without it, so the vector is computed again instead of being used silently; a header of another
 * version or dimension, or garbage, starts the store afresh (also with a warning). A store path that is not a
 * regular file (a FIFO, a device, a folder) is never opened: the store then lives in memory only, with a warning.
 *
 * The in-memory side lives as long as the process: every store opened for the same file shares one Map, and with the
 * disk off (`cache: false`) a per-process Map still avoids re-encoding within a run.
 */
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync, fstatSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';

export interface CacheOptions {
  /** cache folder; default env FGCLIP_CACHE, else $XDG_CACHE_HOME/fgclip, else ~/.cache/fgclip */
  readonly dir?: string;
  /** environment to read the defaults from (default process.env) */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** `false` turns the disk cache off (memory only). */
export type CacheSetting = CacheOptions | false;

const MAGIC = 'FGCV';
const VERSION = 2;
const HEADER_BYTES = 16;
const KEY_BYTES = 32;
const CHECK_BYTES = 8;

/** Where warnings about damaged stores go. */
export type StoreWarn = (message: string) => void;
const defaultWarn: StoreWarn = (m) => process.emitWarning(m, 'FgClipWarning');

function recordCheck(buf: Buffer, start: number, end: number): Buffer {
  return createHash('sha256').update(buf.subarray(start, end)).digest().subarray(0, CHECK_BYTES);
}

/** The fgclip cache folder for these options (not created here). */
export function fgclipCacheDir(opts: CacheOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.dir) return opts.dir;
  if (env.FGCLIP_CACHE) return env.FGCLIP_CACHE;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'fgclip');
  return join(homedir(), '.cache', 'fgclip');
}

const memory = new Map<string, Map<string, Float32Array>>();
/** store paths that are not regular files: never opened, kept in memory only */
const memoryOnly = new Set<string>();

/** A key → vector store of one model and kind, backed by memory and (optionally) an append-only file. */
export class VectorStore {
  private pending: { key: string; vec: Float32Array }[] = [];

  private constructor(
    /** the store file, or undefined when the disk cache is off */
    readonly path: string | undefined,
    readonly dim: number,
    private readonly map: Map<string, Float32Array>,
  ) {}

  /**
   * Opens (creating if needed) the store `name` for `modelId`. With `setting === false` the store is memory-only,
   * shared by every store of the same model id and name in this process.
   */
  static open(setting: CacheSetting, modelId: string, name: string, dim: number, warn: StoreWarn = defaultWarn): VectorStore {
    if (!/^[0-9a-f]{16,64}$/.test(modelId)) throw new FgClipError('INPUT_INVALID', `cache: model id must be hex (got ${JSON.stringify(modelId)})`);
    if (!/^[a-z0-9-]+$/.test(name)) throw new FgClipError('INPUT_INVALID', `cache: store name must be [a-z0-9-] (got ${JSON.stringify(name)})`);
    if (setting === false) {
      const id = `mem:${modelId}/${name}/${dim}`;
      let map = memory.get(id);
      if (!map) memory.set(id, (map = new Map()));
      return new VectorStore(undefined, dim, map);
    }
    const folder = join(fgclipCacheDir(setting), 'v1', modelId);
    const path = join(folder, `${name}.vec`);
    let map = memory.get(path);
    if (!map) {
      try {
        mkdirSync(folder, { recursive: true });
      } catch (e) {
        throw new FgClipError(
          'INPUT_INVALID',
          `cache: cannot create ${folder} (${(e as Error).message}). Set FGCLIP_CACHE to a writable folder, or turn the cache off.`,
          { cause: e },
        );
      }
      const read = readStore(path, dim, warn);
      map = read.map;
      memory.set(path, map);
      if (!read.usable) memoryOnly.add(path);
    }
    return new VectorStore(memoryOnly.has(path) ? undefined : path, dim, map);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): Float32Array | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  put(key: string, vec: Float32Array): void {
    if (!/^[0-9a-f]{64}$/.test(key)) throw new FgClipError('INPUT_INVALID', `cache: keys are sha256 hex digests (got ${JSON.stringify(key)})`);
    if (vec.length !== this.dim) throw new FgClipError('INPUT_INVALID', `cache: vector has ${vec.length} values (expected ${this.dim})`);
    this.map.set(key, vec);
    if (this.path) this.pending.push({ key, vec });
  }

  /** Appends the vectors put since the last flush to the file (no-op for memory stores). */
  flush(): void {
    if (!this.path || this.pending.length === 0) return;
    const rec = recordBytes(this.dim);
    const buf = Buffer.alloc(rec * this.pending.length);
    this.pending.forEach(({ key, vec }, i) => {
      const o = i * rec;
      buf.write(key, o, 'hex');
      for (let d = 0; d < this.dim; d++) buf.writeFloatLE(vec[d], o + KEY_BYTES + 4 * d);
      recordCheck(buf, o, o + rec - CHECK_BYTES).copy(buf, o + rec - CHECK_BYTES);
    });
    this.pending = [];
    const fd = openSync(this.path, 'a');
    try {
      if (fstatSync(fd).size === 0) writeSync(fd, header(this.dim));
      writeSync(fd, buf);
    } finally {
      closeSync(fd);
    }
  }
}

function header(dim: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write(MAGIC, 0, 'latin1');
  h.writeUInt32LE(VERSION, 4);
  h.writeUInt32LE(dim, 8);
  return h;
}

function recordBytes(dim: number): number {
  return KEY_BYTES + 4 * dim + CHECK_BYTES;
}

/**
 * Reads a store file into a Map, checking every record. A file of another version or dimension, or not a store at
 * all, is started afresh (it is only a cache); a partial last record is cut off so later appends stay aligned;
 * records failing their check are dropped and the file rewritten without them. `usable` is false when the path is
 * not a regular file (never opened).
 */
function readStore(path: string, dim: number, warn: StoreWarn): { map: Map<string, Float32Array>; usable: boolean } {
  const map = new Map<string, Float32Array>();
  try {
    const st = lstatSync(path);
    if (!st.isFile() && !(st.isSymbolicLink() && statSync(path).isFile())) {
      warn(`cache: ${path} is not a regular file; this store stays in memory for this run`);
      return { map, usable: false };
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { map, usable: true };
    warn(`cache: ${path} cannot be read (${code ?? String(e)}); this store stays in memory for this run`);
    return { map, usable: false };
  }
  const buf = readFileSync(path);
  const ok = buf.length >= HEADER_BYTES && buf.toString('latin1', 0, 4) === MAGIC && buf.readUInt32LE(4) === VERSION && buf.readUInt32LE(8) === dim;
  if (!ok && buf.length > 0) warn(`cache: ${path} is not a version-${VERSION} store of ${dim}-d vectors (damaged or from another version); starting it afresh`);
  const rec = recordBytes(dim);
  const whole = ok ? Math.floor((buf.length - HEADER_BYTES) / rec) : 0;
  const keep = ok ? HEADER_BYTES + whole * rec : 0;
  let damaged = 0;
  for (let r = 0; r < whole; r++) {
    const o = HEADER_BYTES + r * rec;
    if (!recordCheck(buf, o, o + rec - CHECK_BYTES).equals(buf.subarray(o + rec - CHECK_BYTES, o + rec))) {
      damaged++;
      continue;
    }
    const key = buf.toString('hex', o, o + KEY_BYTES);
    const vec = new Float32Array(dim);
    for (let d = 0; d < dim; d++) vec[d] = buf.readFloatLE(o + KEY_BYTES + 4 * d);
    map.set(key, vec);
  }
  if (damaged > 0) {
    warn(`cache: ${path}: ${damaged} damaged record(s) dropped; those vectors will be computed again`);
    rewrite(path, dim, map);
  } else if (keep !== buf.length) {
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, keep);
    } finally {
      closeSync(fd);
    }
  }
  return { map, usable: true };
}

/** Replaces the store file with the given records (temporary file + rename: readers see the old or the new file). */
function rewrite(path: string, dim: number, map: ReadonlyMap<string, Float32Array>): void {
  const rec = recordBytes(dim);
  const buf = Buffer.alloc(HEADER_BYTES + rec * map.size);
  header(dim).copy(buf, 0);
  let o = HEADER_BYTES;
  for (const [key, vec] of map) {
    buf.write(key, o, 'hex');
    for (let d = 0; d < dim; d++) buf.writeFloatLE(vec[d], o + KEY_BYTES + 4 * d);
    recordCheck(buf, o, o + rec - CHECK_BYTES).copy(buf, o + rec - CHECK_BYTES);
    o += rec;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, buf);
  renameSync(tmp, path);
}

/** Forgets the in-memory side of every store (tests use it to observe what comes from disk). */
export function clearMemoryCache(): void {
  memory.clear();
  memoryOnly.clear();
}
