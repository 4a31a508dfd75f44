/**
 * Downloading one blob into blobs/<etag>: resumable, verified, atomic.
 *
 * Partial data lives in a temp file unique to this download, `blobs/<etag>.<host>.<pid>.<rand>.incomplete`, so
 * two processes (or two calls) fetching the same blob never write into the same file; each verifies its own
 * copy and renames it onto blobs/<etag>, and since the name is the content hash either rename leaves the
 * right bytes. A later download resumes (HTTP Range) from:
 *  - our own partial whose owner is gone (same host, pid no longer running, or this process but not active);
 *    it is claimed with an atomic rename, so only one resumer gets it;
 *  - huggingface_hub's `blobs/<etag>.incomplete` (its resumable file); its bytes are copied, not moved, since a
 *    Python process may still be appending to it under its own file lock, which we cannot take from Node.
 * Verification (huggingface_hub checks the size; we also check the LFS sha256): the size must equal
 * X-Linked-Size/Content-Length, and an etag of 64 hex digits is the file's sha256.
 */
import { createHash, type Hash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, readdirSync, renameSync, statSync, truncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { FgClipError } from '../errors.js';
import { uniqueSuffix, unlinkQuiet } from './cache.js';
import {
  backoffMs,
  baseHeaders,
  describe,
  gaveUp,
  httpError,
  isAbort,
  NetworkDownError,
  requestFollow,
  RetryableError,
  sleep,
  where,
  type FileMetadata,
  type RequestContext,
} from './http.js';
import type { HubSettings } from './settings.js';

const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '') || 'host';
/** Temp files being written by this process right now (not to be claimed as orphans). */
const activeTemps = new Set<string>();

function freshTemp(blob: string): string {
  return `${blob}.${HOST}.${uniqueSuffix()}.incomplete`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

function sizeOf(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return -1;
  }
}

/** Our partials for this blob whose writer is gone (same host; pid not running, or this process but not active). */
function abandonedPartials(blob: string): Array<{ path: string; size: number }> {
  const dir = dirname(blob);
  const etag = basename(blob);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Array<{ path: string; size: number }> = [];
  for (const e of entries) {
    const parts = e.split('.');
    if (parts.length !== 5 || parts[0] !== etag || parts[4] !== 'incomplete' || parts[1] !== HOST) continue;
    const path = join(dir, e);
    const pid = Number(parts[2]);
    const abandoned = pid === process.pid ? !activeTemps.has(path) : !pidAlive(pid);
    if (abandoned) out.push({ path, size: sizeOf(path) });
  }
  return out.sort((a, b) => b.size - a.size);
}

/** The partial to resume from, moved or copied into a fresh temp file of ours; undefined to start at 0. */
function claimPartial(blob: string): { temp: string; pythonPartial?: { path: string; mtimeMs: number } } | undefined {
  const orphans = abandonedPartials(blob);
  const py = `${blob}.incomplete`;
  const pySize = sizeOf(py);
  if (pySize > 0 && pySize > (orphans[0]?.size ?? 0)) {
    const temp = freshTemp(blob);
    try {
      const mtimeMs = statSync(py).mtimeMs;
      copyFileSync(py, temp);
      return { temp, pythonPartial: { path: py, mtimeMs } };
    } catch {
      unlinkQuiet(temp);
    }
  }
  for (const o of orphans) {
    const temp = freshTemp(blob);
    try {
      renameSync(o.path, temp);
      return { temp };
    } catch {
      /* claimed by someone else meanwhile */
    }
  }
  return undefined;
}

/** The temp file with a running sha256 of everything in it. */
class Partial {
  private hash: Hash = createHash('sha256');
  /** Bytes in the file (all of them hashed). */
  size = 0;
  constructor(readonly path: string) {}

  /** Picks up what is on disk (a claimed partial, or bytes left by a failed attempt). */
  async sync(): Promise<void> {
    const onDisk = Math.max(0, sizeOf(this.path));
    if (onDisk < this.size) this.reset();
    if (onDisk > this.size) {
      for await (const chunk of createReadStream(this.path, { start: this.size, end: onDisk - 1 })) this.hash.update(chunk as Buffer);
      this.size = onDisk;
    }
  }

  reset(): void {
    if (existsSync(this.path)) truncateSync(this.path, 0);
    this.hash = createHash('sha256');
    this.size = 0;
  }

  /** Appends a response body; a cut connection becomes a RetryableError (the bytes received so far are kept). */
  async append(body: ReadableStream<Uint8Array> | null, onBytes: () => void): Promise<void> {
    const fh = await open(this.path, 'a');
    const reader = body?.getReader();
    try {
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = reader ? await reader.read() : { done: true, value: undefined };
        } catch (e) {
          if (e instanceof Error && e.name === 'AbortError') throw e;
          throw new RetryableError(`connection lost at byte ${this.size}: ${describe(e)}`, undefined, { cause: e });
        }
        if (r.done) break;
        await fh.write(r.value);
        this.hash.update(r.value);
        this.size += r.value.byteLength;
        onBytes();
      }
    } catch (e) {
      await reader?.cancel().catch(() => {});
      throw e;
    } finally {
      await fh.close();
    }
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** "bytes 100-199/200" → start and total. */
function parseContentRange(v: string | null): { start: number; total?: number } | undefined {
  const m = v === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim());
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

function headerInt(res: Response, name: string): number | undefined {
  const v = res.headers.get(name);
  return v !== null && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * One GET appending to `part` from its current size (Range when > 0). 206 must start at our offset; a 200 to a
 * Range request means the server sends everything, so the partial is discarded. Returns 'restart' when the
 * range was refused (416, or a 206 at another offset), else the total size the server announced.
 */
async function fetchInto(
  s: HubSettings,
  ctx: RequestContext,
  meta: FileMetadata,
  part: Partial,
  onBytes: (total?: number) => void,
): Promise<'restart' | { total?: number }> {
  const headers = baseHeaders(s);
  if (new URL(meta.location).origin !== new URL(s.endpoint).origin) delete headers.authorization;
  const offset = part.size;
  if (offset > 0) headers.range = `bytes=${offset}-`;
  const { res, url, tokenSent } = await requestFollow(s, 'GET', meta.location, headers);
  if (res.status === 416 && offset > 0) {
    await res.body?.cancel();
    return 'restart';
  }
  if (res.status < 200 || res.status >= 300) {
    await res.body?.cancel();
    throw httpError(s, ctx, res, url, tokenSent);
  }
  let total: number | undefined;
  if (res.status === 206) {
    const cr = parseContentRange(res.headers.get('content-range'));
    if (offset === 0 || cr === undefined || cr.start !== offset) {
      await res.body?.cancel();
      return 'restart';
    }
    total = cr.total;
  } else {
    if (offset > 0) part.reset();
    total = headerInt(res, 'content-length');
  }
  await part.append(res.body, () => onBytes(total));
  return { total };
}

/**
 * Downloads `meta.location` into `blob` and returns once blobs/<etag> is complete and verified. Throws
 * DOWNLOAD_CORRUPT (after deleting the bad bytes), HUB_ERROR after bounded retries or on abort (the partial is
 * kept for a later resume), or the HTTP error mapping of http.ts.
 */
export async function downloadBlob(s: HubSettings, ctx: RequestContext, meta: FileMetadata, blob: string): Promise<void> {
  const claimed = claimPartial(blob);
  const part = new Partial(claimed?.temp ?? freshTemp(blob));
  activeTemps.add(part.path);
  try {
    let failures = 0;
    let restarts = 0;
    let total = meta.size;
    for (;;) {
      await part.sync();
      if (total !== undefined && part.size > total) part.reset();
      if (total !== undefined && part.size === total && total > 0) break;
      const offset = part.size;
      s.onProgress?.({ file: ctx.file, received: part.size, total });
      try {
        const r = await fetchInto(s, ctx, meta, part, (t) => s.onProgress?.({ file: ctx.file, received: part.size, total: total ?? t }));
        if (r === 'restart') {
          if (++restarts > 2)
            throw new FgClipError('HUB_ERROR', `${where(ctx)}: the server refused to resume at byte ${offset} (HTTP Range) repeatedly. Try again.`);
          part.reset();
          continue;
        }
        total ??= r.total;
        break;
      } catch (e) {
        if (!(e instanceof RetryableError)) throw isAbort(e, s.signal) ? gaveUp(ctx, e, failures + 1, s.signal) : e;
        if (e instanceof NetworkDownError) throw gaveUp(ctx, e, failures + 1, s.signal); // the partial is kept for a resume
        failures = part.size > offset ? 1 : failures + 1; // progress resets the budget (still bounded: by the file size)
        if (failures > s.retries) throw gaveUp(ctx, e, failures, s.signal);
        try {
          await sleep(backoffMs(s, failures, e.retryAfterMs), s.signal);
        } catch (abort) {
          throw gaveUp(ctx, abort, failures, s.signal);
        }
      }
    }
    try {
      verify(ctx, meta, part.path, total, part.digest());
    } catch (e) {
      if (claimed?.pythonPartial) unlinkQuiet(claimed.pythonPartial.path); // its bytes may be the bad ones: never resume from it again
      throw e;
    }
    if (existsSync(blob))
      unlinkQuiet(part.path); // a concurrent download finished first: same content, by name
    else renameSync(part.path, blob);
    const py = claimed?.pythonPartial;
    if (py && sizeOf(py.path) >= 0 && statSync(py.path).mtimeMs === py.mtimeMs) unlinkQuiet(py.path); // idle since copied: done with it
    for (const o of abandonedPartials(blob)) unlinkQuiet(o.path);
  } finally {
    activeTemps.delete(part.path);
  }
}

function verify(ctx: RequestContext, meta: FileMetadata, temp: string, total: number | undefined, sha256: string): void {
  const size = sizeOf(temp);
  const expected = meta.size ?? total;
  const hint = 'The partial file was deleted: run again to download it afresh; if this repeats, a proxy or HF_ENDPOINT mirror may be altering downloads.';
  if (expected !== undefined && size !== expected) {
    unlinkQuiet(temp);
    throw new FgClipError('DOWNLOAD_CORRUPT', `${where(ctx)}: downloaded size is wrong (expected ${expected} bytes, got ${size}). ${hint}`);
  }
  if (/^[0-9a-f]{64}$/.test(meta.etag) && sha256 !== meta.etag) {
    unlinkQuiet(temp);
    throw new FgClipError(
      'DOWNLOAD_CORRUPT',
      `${where(ctx)}: downloaded content does not match its LFS hash (expected sha256 ${meta.etag}, got ${sha256}). ${hint}`,
    );
  }
}
