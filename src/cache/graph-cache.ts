/**
 * On-disk cache of built graphs, so a second load skips reading, transposing and re-encoding the weights:
 *   <fgclip cache>/graphs/<key>/{vision-<S>,text}/model.onnx + weights.bin, text-tables.bin, meta.json, manifest.json
 * The key hashes the checkpoint's content identity (model-identity.ts: HF blob names, or a remembered sha256),
 * the graph layout version, the linear-layer dtype and the resolution.
 *
 * Integrity: `manifest.json`, written last, lists every file of the entry with its size and sha256 (and carries the
 * meta). An entry is trusted only when every listed file is a regular file of that size and hash; anything else
 * (a flipped byte in weights.bin, an edited meta.json, a truncated table, a missing manifest) is reported through
 * `warn` and the entry is moved aside and rebuilt. Hashing a base model's entry (~600 MB) costs a warm load a few
 * hundred ms, so a file whose digest was computed before (at commit or an earlier load) is not re-hashed while its
 * identity on disk is unchanged: device, inode, size, mtime and ctime (`verified.json` in the entry, not itself
 * listed in the manifest). Any
 * write, truncation, replacement or metadata change through the file system moves ctime, which user space cannot set
 * back, so an edited file is always re-hashed; what the memo does not catch is media-level corruption of a file
 * after it was first verified.
 *
 * Concurrency and crashes: an entry is built in a staging folder `<key>.tmp-<host>-<pid>-<random>` and renamed
 * into place in one step; a committed entry is never modified or deleted while valid, so a process reading it is
 * never disturbed. When two processes build the same entry, the first rename wins and the other opens the graphs
 * it staged itself, then removes them. A staging folder left by a killed process (kill -9) is removed by the next
 * load: its pid is gone on this host, or it is older than a day. Damaged entries are renamed to
 * `<key>.trash-…` (atomic) before removal, so a half-deleted entry is never seen under its key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fgclipCacheDir } from './vector-store.js';
import { folderIdentity } from './model-identity.js';
import { GRAPH_LAYOUT_VERSION, isGraphCacheRecord } from '../graph/layout-version.js';
import type { BuiltModel } from '../graph/onnx-builder.js';
import { EXTERNAL_DATA_NAME } from '../graph/onnx-builder.js';
import { FileSink } from '../platform/node/file-sink.js';
import { openRegular } from '../platform/node/regular-file.js';
import type { GraphCacheMeta } from '../platform/ports.js';

export { GRAPH_LAYOUT_VERSION };

const MANIFEST = 'manifest.json';
/** digests memo of the entry's files (VerifiedMemo), not listed in the manifest */
const VERIFIED = 'verified.json';
/** A staging folder of a live process on another host (or a reused pid) is left alone this long. */
const STALE_MS = 24 * 3600 * 1000;

/** What an entry remembers next to its graphs (the graph store port's meta). */
export type CachedMeta = GraphCacheMeta;

interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}
interface Manifest {
  readonly version: number;
  readonly meta: CachedMeta;
  readonly files: readonly ManifestFile[];
}

export interface GraphCacheEntry {
  readonly dir: string;
  readonly textModel: string;
  visionModel(S: number): string;
}

/** Where warnings about damaged entries go (FgClipOptions.onWarning; default: process warning). */
export type CacheWarn = (message: string) => void;
const defaultWarn: CacheWarn = (m) => process.emitWarning(m, 'FgClipWarning');

function entryAt(dir: string): GraphCacheEntry {
  return { dir, textModel: join(dir, 'text', 'model.onnx'), visionModel: (S) => join(dir, `vision-${S}`, 'model.onnx') };
}

export async function graphCacheEntry(modelDir: string, parts: { dtype: string; imageSize: number }, cacheDir?: string): Promise<GraphCacheEntry> {
  const identity = await folderIdentity(modelDir, cacheDir ? { dir: cacheDir } : {});
  const key = createHash('sha256')
    .update(JSON.stringify({ identity, v: GRAPH_LAYOUT_VERSION, ...parts }))
    .digest('hex')
    .slice(0, 32);
  const root = join(cacheDir ?? fgclipCacheDir(), 'graphs');
  removeStaleStaging(root);
  return entryAt(join(root, key));
}

const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const LEFTOVER = /^[0-9a-f]{32}\.(tmp|trash)-([0-9a-f]{8})-(\d+)-[0-9a-f]+$/;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Removes staging and trash folders whose writer is gone: same host and the pid is not running, or older than a day.
 * Returns the names removed (tests).
 */
function removeStaleStaging(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = LEFTOVER.exec(name);
    if (!m) continue;
    const [, , host, pidText] = m;
    const pid = Number(pidText);
    const mine = host === HOST && pid === process.pid;
    let age = 0;
    try {
      age = Date.now() - lstatSync(join(root, name)).mtimeMs;
    } catch {
      continue;
    }
    const dead = host === HOST ? !pidAlive(pid) : false;
    if ((!mine && dead) || age > STALE_MS) {
      rmSync(join(root, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

function leftoverName(entryDir: string, kind: 'tmp' | 'trash'): string {
  return `${entryDir}.${kind}-${HOST}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Moves a damaged entry out of its key (atomic rename), then deletes it. Losing a race to another process is fine. */
function discard(entryDir: string): void {
  const trash = leftoverName(entryDir, 'trash');
  try {
    renameSync(entryDir, trash);
  } catch {
    return; // already moved or removed by another process
  }
  rmSync(trash, { recursive: true, force: true });
}

/** Digests of graph-cache files by their identity on disk (see the file comment), kept in `verified.json`. */
class VerifiedMemo {
  private static readonly MAX = 1024;
  private readonly file: string;
  private readonly known = new Map<string, string>();
  private added = false;

  constructor(entryDir: string) {
    this.file = join(entryDir, VERIFIED);
    try {
      const j = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      if (typeof j === 'object' && j !== null && !Array.isArray(j)) {
        for (const [k, v] of Object.entries(j)) if (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) this.known.set(k, v);
      }
    } catch {
      // none yet, or damaged: files are re-hashed
    }
  }

  static key(st: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  }

  get(key: string): string | undefined {
    return this.known.get(key);
  }

  set(key: string, digest: string): void {
    this.known.delete(key);
    this.known.set(key, digest);
    this.added = true;
  }

  /** Writes the memo (newest MAX keys) atomically; a failure only costs re-hashing later. */
  save(): void {
    if (!this.added) return;
    const tmp = `${this.file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      writeFileSync(tmp, JSON.stringify(Object.fromEntries([...this.known].slice(-VerifiedMemo.MAX))));
      renameSync(tmp, this.file);
    } catch {
      rmSync(tmp, { force: true });
    }
  }
}

/** sha256 of a regular file that must have `size` bytes (throws a short reason otherwise); remembered in `memo`. */
async function sha256File(path: string, size: number, memo?: VerifiedMemo): Promise<string> {
  const { fh, size: actual } = await openRegular(path, { what: 'graph cache file', code: 'RUNTIME' }).catch((e: unknown) => {
    throw new Error((e as Error).message.slice(path.length + 2));
  });
  try {
    if (actual !== size) throw new Error(`has ${actual} bytes, the manifest says ${size}`);
    const key = VerifiedMemo.key(await fh.stat());
    const known = memo?.get(key);
    if (known) return known;
    const h = createHash('sha256');
    if (size > 0)
      for await (const chunk of fh.createReadStream({ start: 0, end: size - 1, highWaterMark: 1 << 20, autoClose: false })) h.update(chunk as Buffer);
    const digest = h.digest('hex');
    memo?.set(key, digest);
    return digest;
  } finally {
    await fh.close();
  }
}

function isManifest(x: unknown): x is Manifest {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as Manifest;
  return m.version === GRAPH_LAYOUT_VERSION && isGraphCacheRecord(m.files, m.meta);
}

/** Why the entry cannot be trusted, or its manifest. */
async function verify(entry: GraphCacheEntry, S: number): Promise<{ manifest: Manifest } | { problem: string }> {
  let manifest: unknown;
  try {
    const { fh } = await openRegular(join(entry.dir, MANIFEST), { what: 'manifest', code: 'RUNTIME', maxBytes: 1 << 20 });
    try {
      manifest = JSON.parse(await fh.readFile('utf8'));
    } finally {
      await fh.close();
    }
  } catch (e) {
    return { problem: `manifest.json is missing or unreadable (${e instanceof Error ? e.message : String(e)})` };
  }
  if (!isManifest(manifest)) return { problem: 'manifest.json is not a manifest of this layout version' };
  const needed = [
    'meta.json',
    'text-tables.bin',
    'text/model.onnx',
    `text/${EXTERNAL_DATA_NAME}`,
    `vision-${S}/model.onnx`,
    `vision-${S}/${EXTERNAL_DATA_NAME}`,
  ];
  const listed = new Set(manifest.files.map((f) => f.path));
  const missing = needed.filter((n) => !listed.has(n));
  if (missing.length > 0) return { problem: `manifest.json does not list ${missing.join(', ')}` };
  const memo = new VerifiedMemo(entry.dir);
  for (const f of manifest.files) {
    const full = join(entry.dir, ...f.path.split('/'));
    if (f.path.split('/').includes('..') || relative(entry.dir, full).startsWith(`..${sep}`))
      return { problem: `manifest.json lists a path outside the entry (${f.path})` };
    let digest: string;
    try {
      digest = await sha256File(full, f.size, memo);
    } catch (e) {
      return { problem: `${f.path} ${e instanceof Error ? e.message : String(e)}` };
    }
    if (digest !== f.sha256) return { problem: `${f.path} does not match its sha256 in manifest.json (damaged on disk)` };
  }
  memo.save();
  return { manifest };
}

/**
 * The entry's meta and text tables when every file matches the manifest; otherwise undefined. A damaged entry is
 * reported through `warn` and removed, so the caller rebuilds it.
 */
export async function readCached(
  entry: GraphCacheEntry,
  S: number,
  warn: CacheWarn = defaultWarn,
): Promise<{ meta: CachedMeta; tables: Float32Array } | undefined> {
  try {
    if (!statSync(entry.dir).isDirectory()) throw new Error('not a folder');
  } catch {
    return undefined; // nothing cached yet
  }
  const checked = await verify(entry, S);
  if ('problem' in checked) {
    warn(`graph cache: ${entry.dir} is damaged (${checked.problem}); rebuilding it`);
    discard(entry.dir);
    return undefined;
  }
  const { meta } = checked.manifest;
  const buf = await readFile(join(entry.dir, 'text-tables.bin'));
  const n = meta.tableSizes[0] + meta.tableSizes[1];
  if (buf.byteLength !== n * 4) {
    warn(`graph cache: ${entry.dir} is damaged (text-tables.bin has ${buf.byteLength} bytes, meta says ${n * 4}); rebuilding it`);
    discard(entry.dir);
    return undefined;
  }
  const tables = new Float32Array(n);
  new Uint8Array(tables.buffer).set(buf);
  return { meta, tables };
}

/**
 * A cache entry being written: graphs stream their weights into `sink(sub)` files of a staging folder, and
 * `commit` writes the manifest last and renames the folder into place. Failures only cost the cache.
 */
export class Staging {
  private readonly tmp: string;
  private renamed = false;
  private constructor(private readonly entry: GraphCacheEntry) {
    this.tmp = leftoverName(entry.dir, 'tmp');
  }

  static start(entry: GraphCacheEntry): Staging | undefined {
    const s = new Staging(entry);
    try {
      mkdirSync(s.tmp, { recursive: true });
      return s;
    } catch {
      return undefined;
    }
  }

  /** The staging folder (tests). */
  get path(): string {
    return this.tmp;
  }

  sink(sub: string): FileSink {
    mkdirSync(join(this.tmp, sub), { recursive: true });
    return new FileSink(join(this.tmp, sub, EXTERNAL_DATA_NAME));
  }

  writeModel(sub: string, model: BuiltModel): void {
    writeFileSync(join(this.tmp, sub, 'model.onnx'), model.model);
  }

  /**
   * Writes tables, meta and the manifest (last), then renames the staging folder into place. Returns where the graphs
   * are to be opened from: the committed entry, or — when another process committed the same entry first — this
   * staging folder (call `release` once the sessions exist).
   */
  async commit(tables: readonly Float32Array[], meta: CachedMeta): Promise<GraphCacheEntry> {
    writeFileSync(join(this.tmp, 'text-tables.bin'), Buffer.concat(tables.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))));
    writeFileSync(join(this.tmp, 'meta.json'), JSON.stringify(meta));
    const files: ManifestFile[] = [];
    // the files keep their identity on disk when the folder is renamed into place: the first load need not re-hash
    const memo = new VerifiedMemo(this.tmp);
    for (const rel of listFiles(this.tmp)) {
      const full = join(this.tmp, ...rel.split('/'));
      const size = statSync(full).size;
      files.push({ path: rel, size, sha256: await sha256File(full, size, memo) });
    }
    memo.save();
    const manifest: Manifest = { version: GRAPH_LAYOUT_VERSION, meta, files };
    writeFileSync(join(this.tmp, MANIFEST), JSON.stringify(manifest));
    try {
      renameSync(this.tmp, this.entry.dir);
      this.renamed = true;
      return this.entry;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      return entryAt(this.tmp); // another process committed first: use what we built, then release it
    }
  }

  /** Removes the staging folder unless it became the entry. */
  release(): void {
    if (!this.renamed) rmSync(this.tmp, { recursive: true, force: true });
  }

  abort(): void {
    this.release();
  }
}

/** Regular files under `dir`, as '/'-separated relative paths, sorted. */
function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, rel));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}
