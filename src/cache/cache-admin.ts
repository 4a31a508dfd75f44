/**
 * What is in the fgclip cache and how to reclaim it (`fgclip cache`): compiled graphs (`graphs/<key>`, rebuilt from
 * the checkpoint on the next load), the collections behind `fgclip search DIR` (`folders/<key>`, rebuilt by the next
 * search of that folder) and embedding stores (`v1/<model id>`, prompt sets and image vectors). Everything here can be
 * rebuilt, so cleaning never loses data; it costs a rebuild.
 *
 * "Last used" is the newest access or modification time of the entry's files (Linux updates access times at least
 * daily under the default `relatime`), so `--older-than DAYS` means "not read for that long" to a day's precision.
 * An entry is removed by renaming it to a trash name first (one atomic step: a concurrent reader either has it or
 * rebuilds it) and then deleting the trash; trash left by a killed cleaner is removed by the next clean. A folder
 * collection whose writer lock is held (an index run in progress) is skipped, and says so.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { WriterLock } from '../collection/lock.js';

export const CACHE_KINDS = ['graphs', 'folders', 'embeddings'] as const;
export type CacheKind = (typeof CACHE_KINDS)[number];

export interface CacheItem {
  readonly kind: CacheKind;
  readonly path: string;
  readonly bytes: number;
  /** newest access or modification time of its files */
  readonly lastUsed: Date;
  /** what it belongs to, where that is recorded (the folder of a folder collection) */
  readonly about?: string;
}

export interface CleanOptions {
  /** remove only entries not used for this many days (default 0: every entry) */
  readonly olderThanDays?: number;
  /** kinds to clean (default all) */
  readonly kinds?: readonly CacheKind[];
  /** report what would be removed, remove nothing */
  readonly dryRun?: boolean;
  /** clock (tests) */
  readonly now?: number;
}

export interface CleanReport {
  readonly removed: CacheItem[];
  readonly kept: number;
  readonly freedBytes: number;
  readonly skipped: { readonly path: string; readonly reason: string }[];
  /** trash of an earlier, interrupted clean (or cache writer) that this run deleted */
  readonly leftovers: number;
}

const SUBDIR: Record<CacheKind, string> = { graphs: 'graphs', folders: 'folders', embeddings: 'v1' };
const KEY: Record<CacheKind, RegExp> = { graphs: /^[0-9a-f]{32}$/, folders: /^[0-9a-f]{32}$/, embeddings: /^[0-9a-f]{64}$/ };
/** what `fgclip search DIR` records in its collection folder (folder.ts) */
export const FOLDER_NOTE = '.fgclip-folder.json';
const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
/** the graph cache's leftover pattern (graph-cache.ts), shared so either side cleans the other's trash */
const TRASH = /^[0-9a-f]+\.trash-([0-9a-f]{8})-(\d+)-[0-9a-f]+$/;

function walk(p: string): { bytes: number; last: number } {
  const st = lstatSync(p);
  if (!st.isDirectory()) return { bytes: st.size, last: Math.max(st.atimeMs, st.mtimeMs) };
  let bytes = 0;
  let last = st.mtimeMs;
  for (const e of readdirSync(p)) {
    const r = walk(join(p, e));
    bytes += r.bytes;
    last = Math.max(last, r.last);
  }
  return { bytes, last };
}

function folderOf(entry: string): string | undefined {
  try {
    const note = JSON.parse(readFileSync(join(entry, FOLDER_NOTE), 'utf8')) as { folder?: unknown };
    return typeof note.folder === 'string' ? note.folder : undefined;
  } catch {
    return undefined;
  }
}

/** The entries of the cache at `dir` (a missing cache is empty), largest first. */
export function listCache(dir: string, kinds: readonly CacheKind[] = CACHE_KINDS): CacheItem[] {
  const items: CacheItem[] = [];
  for (const kind of kinds) {
    const root = join(dir, SUBDIR[kind]);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort()) {
      if (!KEY[kind].test(name)) continue;
      const path = join(root, name);
      let w: { bytes: number; last: number };
      try {
        if (!lstatSync(path).isDirectory()) continue;
        w = walk(path);
      } catch {
        continue; // removed while we looked
      }
      const about = kind === 'folders' ? folderOf(path) : undefined;
      items.push({ kind, path, bytes: w.bytes, lastUsed: new Date(w.last), ...(about ? { about } : {}) });
    }
  }
  return items.sort((a, b) => b.bytes - a.bytes);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeLeftovers(dir: string, kinds: readonly CacheKind[]): number {
  let n = 0;
  for (const kind of kinds) {
    const root = join(dir, SUBDIR[kind]);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root)) {
      const m = TRASH.exec(name);
      if (!m || (m[1] === HOST && alive(Number(m[2])))) continue;
      rmSync(join(root, name), { recursive: true, force: true });
      n++;
    }
  }
  return n;
}

/** Removes cache entries (all, or those not used for `olderThanDays`), as described above. */
export function cleanCache(dir: string, opts: CleanOptions = {}): CleanReport {
  const days = opts.olderThanDays ?? 0;
  if (!Number.isFinite(days) || days < 0) throw new FgClipError('INPUT_INVALID', `cache clean: olderThanDays must be a number ≥ 0 (got ${days})`);
  const kinds = opts.kinds ?? CACHE_KINDS;
  for (const k of kinds)
    if (!(CACHE_KINDS as readonly string[]).includes(k))
      throw new FgClipError('INPUT_INVALID', `cache clean: unknown kind '${k}' (kinds: ${CACHE_KINDS.join(', ')})`);
  const cutoff = (opts.now ?? Date.now()) - days * 86_400_000;
  const leftovers = opts.dryRun ? 0 : removeLeftovers(dir, kinds);
  const removed: CacheItem[] = [];
  const skipped: { path: string; reason: string }[] = [];
  let kept = 0;
  for (const item of listCache(dir, kinds)) {
    if (days > 0 && item.lastUsed.getTime() >= cutoff) {
      kept++;
      continue;
    }
    if (opts.dryRun) {
      removed.push(item);
      continue;
    }
    let lock: WriterLock | undefined;
    if (item.kind === 'folders') {
      try {
        lock = WriterLock.acquire(join(item.path, '.fgclip-writer.lock'), 'fgclip cache clean');
      } catch (e) {
        skipped.push({ path: item.path, reason: (e as Error).message });
        kept++;
        continue;
      }
    }
    const trash = `${item.path}.trash-${HOST}-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      renameSync(item.path, trash);
    } catch (e) {
      lock?.release();
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // another cleaner took it
      skipped.push({ path: item.path, reason: (e as Error).message });
      kept++;
      continue;
    }
    rmSync(trash, { recursive: true, force: true });
    removed.push(item);
  }
  return { removed, kept, freedBytes: removed.reduce((n, r) => n + r.bytes, 0), skipped, leftovers };
}
