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
const CHUNK = 8 << 20;

async function root(): Promise<FileSystemDirectoryHandle> {
  if (!navigator.storage?.getDirectory) throw new FgClipError('RUNTIME', 'this browser has no Origin Private File System (navigator.storage.getDirectory); pass cache: false to load without caching');
  const r = await navigator.storage.getDirectory();
  return r.getDirectoryHandle(ROOT, { create: true });
}

async function dirPath(parts: readonly string[], create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
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
    w.write(bytes);
    return this.commit(file, w, { size: bytes.length });
  }

  /** A sync writer on `<file>.partial` (workers only); `fresh` truncates it. */
  async writer(file: string, fresh: boolean): Promise<PartialWriter> {
    const h = await this.dir.getFileHandle(`${flat(file)}.partial`, { create: true });
    const access = await syncAccessHandle(h);
    if (fresh) access.truncate(0);
    return new PartialWriter(h, access);
  }

  /** Verifies the partial file against `want` and moves it onto `file`. */
  async commit(file: string, w: PartialWriter, want: Expected, digest?: string): Promise<File> {
    const size = w.size();
    w.close();
    if (want.size !== undefined && size !== want.size) {
      await this.drop(file);
      throw new FgClipError('DOWNLOAD_CORRUPT', `${file}: downloaded ${size} bytes, expected ${want.size}; the partial file was deleted, load again to retry`);
    }
    if (want.sha256 !== undefined && digest !== undefined && digest !== want.sha256.toLowerCase()) {
      await this.drop(file);
      throw new FgClipError('DOWNLOAD_CORRUPT', `${file}: content does not match its sha256 (expected ${want.sha256}, got ${digest}); the partial file was deleted, load again to retry`);
    }
    const mh = await this.meta.getFileHandle(`${flat(file)}.json`, { create: true });
    const old = await fileIn(this.dir, flat(file));
    if (old) await this.dir.removeEntry(flat(file));
    await (w.handle as FileSystemFileHandle & { move(name: string): Promise<void> }).move(flat(file));
    const ws = await mh.createWritable();
    await ws.write(JSON.stringify({ size, ...(digest ? { sha256: digest } : {}) }));
    await ws.close();
    return (await this.get(file)) as File;
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
    for (const [d, n] of [[this.dir, `${flat(file)}.partial`], [this.dir, flat(file)], [this.meta, `${flat(file)}.json`]] as const) {
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
  /** appends; returns the offset written at */
  write(bytes: Uint8Array): number {
    const at = this.at;
    let done = 0;
    while (done < bytes.length) done += this.access.write(bytes.subarray(done), { at: at + done });
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
    this.access.flush();
    this.access.close();
  }
}

/** sha256 of a Blob, read in chunks (never whole). */
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
  let res: Response;
  try {
    res = await fetch(req.url, { headers: { ...req.headers, ...(have > 0 ? { range: `bytes=${have}-` } : {}) }, cache: 'no-store' });
  } catch (e) {
    throw new FgClipError('HUB_ERROR', `${file}: cannot fetch ${req.url} (${e instanceof Error ? e.message : String(e)}); check the network, or that the server sends CORS headers`, { cause: new NetworkError(e) });
  }
  if (res.status === 416 && have > 0 && expected.size === have) {
    // the partial file is already complete
  } else if (!res.ok) {
    throw new FgClipError(res.status === 401 || res.status === 403 ? 'HUB_AUTH' : res.status === 404 ? 'MODEL_NOT_FOUND' : 'HUB_ERROR', `${file}: ${req.url} answered ${res.status} ${res.statusText}`);
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
    if (res.ok && res.body) {
      const reader = res.body.getReader();
      let last = 0;
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw new FgClipError('HUB_ERROR', `${file}: the download from ${req.url} broke off after ${w.size()} bytes (${e instanceof Error ? e.message : String(e)}); load again to resume from there`, { cause: e });
        }
        const { done, value } = chunk;
        if (done) break;
        w.write(value);
        if (hashing) hasher.update(value);
        if (expected.size !== undefined && w.size() > expected.size) throw new FgClipError('DOWNLOAD_CORRUPT', `${file}: the server sent more than the expected ${expected.size} bytes`);
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
    throw e;
  }
}

/** Hub refs remembered for offline visits: `${endpoint} ${repo} ${revision}` → commit. */
export async function readRef(key: string): Promise<string | undefined> {
  const f = await fileIn(await root(), 'refs.json');
  if (!f) return undefined;
  const refs = JSON.parse(await (await f.getFile()).text()) as Record<string, string>;
  return Object.prototype.hasOwnProperty.call(refs, key) ? refs[key] : undefined;
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
