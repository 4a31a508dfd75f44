/**
 * The model worker's file store in the Origin Private File System (OPFS):
 *   fgclip/<space>/<file>             complete, verified files (size and, when known, sha256)
 *   fgclip/<space>/<file>.partial     a download in progress; resumed with an HTTP Range request after a reload
 *   fgclip/<space>/.meta/<file>.json  { size, sha256 } of a complete file
 *   fgclip/refs.json                  Hub (endpoint, repo, revision) → commit, for offline second visits
 * `space` names a source (a Hub repo at a commit, a URL folder, a built-graph cache entry). Downloads stream into
 * the file through a sync access handle (workers only), hashing as they go, so no file is ever held in memory;
 * a file is moved onto its final name only once its size and hash are verified.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { FgClipError } from '../../errors.js';
import type { WeightSink } from '../../graph/onnx-builder.js';
import { syncAccessHandle, type SyncAccessHandle } from './worker-types.js';

export interface Progress {
  readonly file: string;
  readonly phase: 'download' | 'verify' | 'build' | 'load' | 'cached';
  readonly loaded: number;
  readonly total?: number;
}
export type ProgressFn = (p: Progress) => void;

export interface Expected {
  readonly size?: number;
  readonly sha256?: string;
}

const ROOT = 'fgclip';

/** A write refused for lack of quota, caught where the write happens (sync); `quotaError` makes the typed error. */
export class QuotaExceeded extends Error {
  constructor(
    readonly file: string,
    /** bytes still to write when it failed, when known */
    readonly needed: number | undefined,
    cause: unknown,
  ) {
    super(`${file}: storage quota exceeded`, { cause });
  }
}

/** Runs an OPFS operation; the browser's quota refusal becomes QuotaExceeded(file, needed). */
async function guarded<T>(file: string, needed: number | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof QuotaExceeded || !isQuotaExceeded(e)) throw e;
    throw new QuotaExceeded(file, needed, e);
  }
}

/** Whether `e` is the browser's quota refusal (DOMException QuotaExceededError) or our QuotaExceeded. */
export function isQuotaExceeded(e: unknown): boolean {
  return e instanceof QuotaExceeded || (e as { name?: unknown } | null)?.name === 'QuotaExceededError';
}

const mib = (n: number | undefined) => (n === undefined ? 'an unknown amount' : `${(n / 1048576).toFixed(1)} MiB`);

/**
 * The typed STORAGE_QUOTA error: what was needed, what navigator.storage.estimate() says is available, what to do.
 * details: { file, needed, available, usage, quota } in bytes (undefined where unknown).
 */
export async function quotaError(file: string, needed: number | undefined, cause?: unknown): Promise<FgClipError> {
  let usage: number | undefined;
  let quota: number | undefined;
  try {
    ({ usage, quota } = await navigator.storage.estimate());
  } catch {
    /* unknown */
  }
  const available = usage !== undefined && quota !== undefined ? Math.max(0, quota - usage) : undefined;
  const estimate = `navigator.storage.estimate(): ${mib(usage)} used of a ${mib(quota)} quota`;
  // the browser can refuse a write while estimate() still reports room (it is approximate; Chromium's private
  // windows and quota overrides are not reflected in it): say both
  const seen =
    available !== undefined && needed !== undefined && available >= needed
      ? `needs ${mib(needed)} more; the browser refused to store it (QuotaExceededError) although ${estimate} leaves ${mib(available)} available`
      : `needs ${mib(needed)} more, ${mib(available)} available (${estimate})`;
  return new FgClipError(
    'STORAGE_QUOTA',
    `${file}: not enough browser storage for this site: ${seen}. ` +
      'Free space: FgClip.clearCache() deletes the models fgclip cached (and unfinished downloads); clearing other data of this site (browser settings) or free disk space raises what the browser grants; or load a smaller model (an fgclip export with --dtype int8), or use cache: false for a folder URL or picked files.',
    { cause, details: { file, needed, available, usage, quota } },
  );
}

/** Fails early with STORAGE_QUOTA when `needed` bytes clearly do not fit (estimate() known). */
export async function assertRoom(file: string, needed: number): Promise<void> {
  let usage: number | undefined;
  let quota: number | undefined;
  try {
    ({ usage, quota } = await navigator.storage.estimate());
  } catch {
    return;
  }
  if (usage !== undefined && quota !== undefined && needed > quota - usage) throw await quotaError(file, needed);
}
const CHUNK = 8 << 20;

async function root(): Promise<FileSystemDirectoryHandle> {
  if (!navigator.storage?.getDirectory)
    throw new FgClipError(
      'RUNTIME',
      'this browser has no Origin Private File System (navigator.storage.getDirectory); pass cache: false to load without caching',
    );
  const r = await navigator.storage.getDirectory();
  return r.getDirectoryHandle(ROOT, { create: true });
}

/** The folder fgclip/<parts…> in OPFS; undefined when `create` is false and it is missing. */
export async function dirPath(parts: readonly string[], create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
  let d = await root();
  for (const p of parts) {
    try {
      d = await d.getDirectoryHandle(p, { create });
    } catch (e) {
      if (!create && (e as DOMException).name === 'NotFoundError') return undefined;
      throw e;
    }
  }
  return d;
}

async function fileIn(d: FileSystemDirectoryHandle, name: string): Promise<FileSystemFileHandle | undefined> {
  try {
    return await d.getFileHandle(name);
  } catch (e) {
    if ((e as DOMException).name === 'NotFoundError' || (e as DOMException).name === 'TypeMismatchError') return undefined;
    throw e;
  }
}

/** Flattens a relative path (a/b.json) into one OPFS name per space folder. */
function flat(file: string): string {
  return file.split('/').map(encodeURIComponent).join('%2F');
}

export class Space {
  private constructor(
    readonly parts: readonly string[],
    private readonly dir: FileSystemDirectoryHandle,
    private readonly meta: FileSystemDirectoryHandle,
  ) {}

  static async open(parts: readonly string[]): Promise<Space> {
    const dir = (await dirPath(parts, true)) as FileSystemDirectoryHandle;
    return new Space(parts, dir, await dir.getDirectoryHandle('.meta', { create: true }));
  }

  /**
   * A temporary space (fgclip/tmp/<time>-<random>) for a load without the cache; remove() it when done. Entries a
   * closed tab left behind for more than a day are removed here.
   */
  static async openTemp(): Promise<Space> {
    const tmp = (await dirPath(['tmp'], true)) as FileSystemDirectoryHandle;
    for await (const [name] of (tmp as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      const t = Number(name.split('-')[0]);
      if (Number.isFinite(t) && t < Date.now() - 86_400_000) await tmp.removeEntry(name, { recursive: true }).catch(() => undefined);
    }
    return Space.open(['tmp', `${Date.now()}-${crypto.randomUUID()}`]);
  }

  /** Deletes this space and everything in it (errors ignored: a file still open elsewhere stays until later). */
  async remove(): Promise<void> {
    const parent = await dirPath(this.parts.slice(0, -1), false);
    await parent?.removeEntry(this.parts[this.parts.length - 1], { recursive: true }).catch(() => undefined);
  }

  /** A complete file (verified when it was stored), or undefined. */
  async get(file: string): Promise<File | undefined> {
    const h = await fileIn(this.dir, flat(file));
    const m = await fileIn(this.meta, `${flat(file)}.json`);
    if (!h || !m) return undefined;
    const f = await h.getFile();
    const meta = JSON.parse(await (await m.getFile()).text()) as Expected;
    return meta.size === f.size ? f : undefined;
  }

  async metaOf(file: string): Promise<Expected | undefined> {
    const m = await fileIn(this.meta, `${flat(file)}.json`);
    return m ? (JSON.parse(await (await m.getFile()).text()) as Expected) : undefined;
  }

  /** Writes a small file (verified trivially) in one go. */
  async putBytes(file: string, bytes: Uint8Array): Promise<File> {
    const w = await this.writer(file, true);
    try {
      w.write(bytes);
    } catch (e) {
      w.close();
      throw e;
    }
    return this.commit(file, w, { size: bytes.length });
  }

  /** A sync writer on `<file>.partial` (workers only); `fresh` truncates it. */
  async writer(file: string, fresh: boolean): Promise<PartialWriter> {
    return guarded(file, undefined, async () => {
      const h = await this.dir.getFileHandle(`${flat(file)}.partial`, { create: true });
      const access = await syncAccessHandle(h);
      if (fresh) access.truncate(0);
      return new PartialWriter(h, access);
    });
  }

  /** Verifies the partial file against `want` and moves it onto `file`. */
  async commit(file: string, w: PartialWriter, want: Expected, digest?: string): Promise<File> {
    const size = w.size();
    return guarded(file, size, () => this.commitClosed(file, w, size, want, digest));
  }

  private async commitClosed(file: string, w: PartialWriter, size: number, want: Expected, digest?: string): Promise<File> {
    w.close();
    if (want.size !== undefined && size !== want.size) {
      await this.drop(file);
      throw new FgClipError('DOWNLOAD_CORRUPT', `${file}: downloaded ${size} bytes, expected ${want.size}; the partial file was deleted, load again to retry`);
    }
    if (want.sha256 !== undefined && digest !== undefined && digest !== want.sha256.toLowerCase()) {
      await this.drop(file);
      throw new FgClipError(
        'DOWNLOAD_CORRUPT',
        `${file}: content does not match its sha256 (expected ${want.sha256}, got ${digest}); the partial file was deleted, load again to retry`,
      );
    }
    const mh = await this.meta.getFileHandle(`${flat(file)}.json`, { create: true });
    const old = await fileIn(this.dir, flat(file));
    if (old) await this.dir.removeEntry(flat(file));
    await (w.handle as FileSystemFileHandle & { move(name: string): Promise<void> }).move(flat(file));
    const ws = await mh.createWritable();
    await ws.write(JSON.stringify({ size, ...(digest ? { sha256: digest } : {}) }));
    await ws.close();
    const stored = await this.get(file);
    if (!stored) {
      // measured under a storage-quota override: writes through a sync access handle reported success, yet the
      // committed file was shorter — the browser did not keep them; treat it as the quota refusal it is
      const h = await fileIn(this.dir, flat(file));
      const kept = h ? (await h.getFile()).size : 0;
      await this.drop(file);
      throw new QuotaExceeded(file, size - kept, new Error(`${file}: the browser kept ${kept} of the ${size} bytes written`));
    }
    return stored;
  }

  /** Remembers that the source has no `file` (answered 404), for offline visits; a later commit replaces it. */
  async markAbsent(file: string): Promise<void> {
    const mh = await this.meta.getFileHandle(`${flat(file)}.json`, { create: true });
    const ws = await mh.createWritable();
    await ws.write(JSON.stringify({ absent: true }));
    await ws.close();
  }

  /** Whether the source was seen without `file` (markAbsent) and no copy has been stored since. */
  async isAbsent(file: string): Promise<boolean> {
    return ((await this.metaOf(file)) as { absent?: boolean } | undefined)?.absent === true && !(await fileIn(this.dir, flat(file)));
  }

  async drop(file: string): Promise<void> {
    for (const [d, n] of [
      [this.dir, `${flat(file)}.partial`],
      [this.dir, flat(file)],
      [this.meta, `${flat(file)}.json`],
    ] as const) {
      try {
        await d.removeEntry(n);
      } catch {
        /* absent */
      }
    }
  }

  async partialSize(file: string): Promise<number> {
    const h = await fileIn(this.dir, `${flat(file)}.partial`);
    return h ? (await h.getFile()).size : 0;
  }

  async partialFile(file: string): Promise<File | undefined> {
    const h = await fileIn(this.dir, `${flat(file)}.partial`);
    return h ? h.getFile() : undefined;
  }
}

export class PartialWriter {
  private at: number;
  constructor(
    readonly handle: FileSystemFileHandle,
    private readonly access: SyncAccessHandle,
  ) {
    this.at = access.getSize();
  }
  /** total bytes this file will have, when known (for the STORAGE_QUOTA error's `needed`) */
  expectedTotal?: number;
  /** appends; returns the offset written at; a quota refusal throws QuotaExceeded */
  write(bytes: Uint8Array): number {
    const at = this.at;
    let done = 0;
    try {
      while (done < bytes.length) {
        const n = this.access.write(bytes.subarray(done), { at: at + done });
        if (n === 0) throw new DOMException('the write made no progress (storage full)', 'QuotaExceededError');
        done += n;
      }
    } catch (e) {
      if (!isQuotaExceeded(e)) throw e;
      try {
        this.access.truncate(at); // keep the file as it was before this write
      } catch {
        /* as it is */
      }
      const needed = this.expectedTotal !== undefined ? Math.max(bytes.length, this.expectedTotal - at) : bytes.length;
      throw new QuotaExceeded(this.handle.name.replace(/\.partial$/, ''), needed, e);
    }
    this.at += bytes.length;
    return at;
  }
  size(): number {
    return this.at;
  }
  truncate(): void {
    this.access.truncate(0);
    this.at = 0;
  }
  close(): void {
    try {
      this.access.flush();
    } finally {
      this.access.close();
    }
  }
  /** close() when it may already be closed, ignoring errors (cleanup paths) */
  closeQuietly(): void {
    try {
      this.close();
    } catch {
      /* already closed */
    }
  }
}

/** sha256 of a Blob, read in chunks (never whole). */
/**
 * Weight sink (the graph builder's external-data writer) into an OPFS file: 64-byte aligned like the Node FileSink,
 * hashing as it writes, so a built graph's weights get their sha256 without being read back.
 */
export class HashingSink implements WeightSink {
  private readonly h = sha256.create();
  private size = 0;
  constructor(readonly w: PartialWriter) {}
  write(bytes: Uint8Array): number {
    const at = Math.ceil(this.size / 64) * 64;
    if (at > this.size) this.put(new Uint8Array(at - this.size));
    this.put(bytes);
    return at;
  }
  private put(b: Uint8Array): void {
    this.w.write(b);
    this.h.update(b);
    this.size += b.length;
  }
  finish(): undefined {
    return undefined;
  }
  /** bytes written so far */
  get bytes(): number {
    return this.size;
  }
  /** sha256 (hex) of everything written; call once, when done */
  digest(): string {
    return bytesToHex(this.h.digest());
  }
}

export async function sha256Blob(blob: Blob, onChunk?: (done: number) => void): Promise<string> {
  const h = sha256.create();
  for (let o = 0; o < blob.size; o += CHUNK) {
    h.update(new Uint8Array(await blob.slice(o, o + CHUNK).arrayBuffer()));
    onChunk?.(Math.min(blob.size, o + CHUNK));
  }
  return bytesToHex(h.digest());
}

/** The cause of a download error when no HTTP answer came at all (offline, DNS, CORS refusal). */
export class NetworkError extends Error {
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
  }
}

export interface DownloadRequest {
  readonly url: string;
  readonly file: string;
  readonly expected: Expected;
  readonly headers?: Record<string, string>;
  readonly onProgress?: ProgressFn;
  /** hash while downloading even without an expected sha256 (stored in the file's meta) */
  readonly hash?: boolean;
}

/**
 * Streams `url` into `space` as `file`: resumes a `.partial` left by an earlier visit with a Range request (a 200
 * answer restarts from zero), hashes the prefix already on disk and then every chunk, verifies, commits.
 */
export async function download(space: Space, req: DownloadRequest): Promise<File> {
  const { file, expected } = req;
  let have = await space.partialSize(file);
  if (expected.size !== undefined && have > expected.size) {
    await space.drop(file);
    have = 0;
  }
  const h = sha256.create();
  const hashing = req.hash === true || expected.sha256 !== undefined;
  if (have > 0 && hashing) {
    const part = (await space.partialFile(file)) as File;
    for (let o = 0; o < have; o += CHUNK) {
      h.update(new Uint8Array(await part.slice(o, Math.min(o + CHUNK, have)).arrayBuffer()));
      req.onProgress?.({ file, phase: 'verify', loaded: Math.min(have, o + CHUNK), total: have });
    }
  }
  // a file of known size that cannot fit is refused before any byte is fetched
  if (expected.size !== undefined && expected.size > have) await assertRoom(file, expected.size - have);
  let res: Response;
  try {
    res = await fetch(req.url, { headers: { ...req.headers, ...(have > 0 ? { range: `bytes=${have}-` } : {}) }, cache: 'no-store' });
  } catch (e) {
    throw new FgClipError(
      'HUB_ERROR',
      `${file}: cannot fetch ${req.url} (${e instanceof Error ? e.message : String(e)}); check the network, or that the server sends CORS headers`,
      { cause: new NetworkError(e) },
    );
  }
  if (res.status === 416 && have > 0 && expected.size === have) {
    // the partial file is already complete
  } else if (!res.ok) {
    throw new FgClipError(
      res.status === 401 || res.status === 403 ? 'HUB_AUTH' : res.status === 404 ? 'MODEL_NOT_FOUND' : 'HUB_ERROR',
      `${file}: ${req.url} answered ${res.status} ${res.statusText}`,
    );
  }
  const remaining = expected.size === undefined && res.status === 200 ? Number(res.headers.get('content-length') ?? Number.NaN) : Number.NaN;
  if (Number.isFinite(remaining) && remaining > 0) {
    try {
      await assertRoom(file, remaining);
    } catch (e) {
      await res.body?.cancel().catch(() => undefined);
      throw e;
    }
  }
  const w = await space.writer(file, have === 0);
  try {
    if (res.status === 200 && have > 0) {
      // the server ignored the Range: start over
      w.truncate();
      have = 0;
    }
    const hasher = res.status === 200 && have === 0 && hashing ? sha256.create() : h;
    const lengthHeader = res.headers.get('content-length');
    const total = expected.size ?? (lengthHeader !== null && res.status === 200 ? Number(lengthHeader) : undefined);
    w.expectedTotal = total;
    if (res.ok && res.body) {
      const reader = res.body.getReader();
      let last = 0;
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw new FgClipError(
            'HUB_ERROR',
            `${file}: the download from ${req.url} broke off after ${w.size()} bytes (${e instanceof Error ? e.message : String(e)}); load again to resume from there`,
            { cause: e },
          );
        }
        const { done, value } = chunk;
        if (done) break;
        w.write(value);
        if (hashing) hasher.update(value);
        if (expected.size !== undefined && w.size() > expected.size)
          throw new FgClipError('DOWNLOAD_CORRUPT', `${file}: the server sent more than the expected ${expected.size} bytes`);
        const now = performance.now();
        if (now - last > 100) {
          req.onProgress?.({ file, phase: 'download', loaded: w.size(), total });
          last = now;
        }
      }
    }
    req.onProgress?.({ file, phase: 'download', loaded: w.size(), total: total ?? w.size() });
    const digest = hashing ? bytesToHex(hasher.digest()) : undefined;
    return await space.commit(file, w, { size: total, sha256: expected.sha256 }, digest);
  } catch (e) {
    try {
      w.close();
    } catch {
      /* already closed */
    }
    if (e instanceof QuotaExceeded) throw await quotaError(file, e.needed, e.cause);
    throw e;
  }
}

/** Hub refs remembered for offline visits: `${endpoint} ${repo} ${revision}` → commit. */
export async function readRef(key: string): Promise<string | undefined> {
  const f = await fileIn(await root(), 'refs.json');
  if (!f) return undefined;
  const refs = JSON.parse(await (await f.getFile()).text()) as Record<string, string>;
  return Object.hasOwn(refs, key) ? refs[key] : undefined;
}

export async function writeRef(key: string, commit: string): Promise<void> {
  const r = await root();
  const f = await r.getFileHandle('refs.json', { create: true });
  const text = await (await f.getFile()).text();
  const refs = (text ? JSON.parse(text) : {}) as Record<string, string>;
  refs[key] = commit;
  const ws = await f.createWritable();
  await ws.write(JSON.stringify(refs));
  await ws.close();
}

/** Removes everything fgclip stored in this origin's OPFS. */
export async function clearStore(): Promise<void> {
  const r = await navigator.storage.getDirectory();
  try {
    await r.removeEntry(ROOT, { recursive: true });
  } catch (e) {
    if ((e as DOMException).name !== 'NotFoundError') throw e;
  }
}

/** Bytes fgclip keeps in OPFS. */
export async function storeUsage(): Promise<number> {
  const walk = async (d: FileSystemDirectoryHandle): Promise<number> => {
    let n = 0;
    for await (const [, h] of (d as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      n += h.kind === 'file' ? (await (h as FileSystemFileHandle).getFile()).size : await walk(h as FileSystemDirectoryHandle);
    }
    return n;
  };
  return walk(await root());
}
