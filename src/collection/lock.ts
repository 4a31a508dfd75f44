/**
 * One writer per collection: an exclusive lock file created with O_EXCL. It holds the owner's host, pid and the
 * process's start time (Linux /proc/<pid>/stat), so a lock left by a killed process (kill -9, power loss) is
 * recognised as stale and taken over: its pid is gone, or now belongs to a process that started later. A lock held
 * by a live process, or by another host (whose processes we cannot see), is a COLLECTION_LOCKED error that names
 * the holder.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { FgClipError } from '../errors.js';

interface LockInfo {
  readonly host: string;
  readonly pid: number;
  readonly start: string | null;
  readonly since: string;
  readonly token: string;
  readonly what: string;
}

/** Start time of a process (clock ticks since boot, field 22 of /proc/<pid>/stat), or null where unavailable. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Exclusive create, then write: where hard links are not available (the file is empty for a moment). */
function createWritten(path: string, info: LockInfo): void {
  const fd = openSync(path, 'wx', 0o644);
  try {
    writeSync(fd, JSON.stringify(info));
  } finally {
    closeSync(fd);
  }
}

function readLock(path: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return undefined; // gone, or unreadable (left half-written by a process killed on a file system without links)
  }
}

function isStale(info: LockInfo | undefined): boolean {
  if (!info) return true;
  if (info.host !== hostname()) return false;
  if (!alive(info.pid)) return true;
  const start = processStart(info.pid);
  return info.start !== null && start !== null && start !== info.start;
}

export class WriterLock {
  private released = false;
  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  /** Takes the lock or throws COLLECTION_LOCKED; `what` says who holds it (shown to the next comer). */
  static acquire(path: string, what: string): WriterLock {
    const info: LockInfo = { host: hostname(), pid: process.pid, start: processStart(process.pid), since: new Date().toISOString(), token: randomUUID(), what };
    // The lock file appears with its content: written under a private name, then hard-linked to `path` (link fails
    // if `path` exists, like an exclusive create). An exclusive create followed by a write left the file empty for
    // a moment, and a contender reading it then took the live lock for a stale one.
    const mine = `${path}.new-${info.token}`;
    let linkable = true;
    try {
      writeFileSync(mine, JSON.stringify(info), { mode: 0o644, flag: 'wx' });
    } catch (e) {
      throw new FgClipError('COLLECTION_INVALID', `collection lock ${path}: cannot create it (${(e as Error).message})`, { cause: e });
    }
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          if (linkable) linkSync(mine, path);
          else createWritten(path, info);
          return new WriterLock(path, info.token);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (linkable && (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP')) {
            linkable = false; // a file system without hard links: exclusive create, then write
            attempt--;
            continue;
          }
          if (code !== 'EEXIST') {
            throw new FgClipError('COLLECTION_INVALID', `collection lock ${path}: cannot create it (${(e as Error).message})`, { cause: e });
          }
        }
        const held = readLock(path);
        if (!isStale(held)) {
          throw new FgClipError(
            'COLLECTION_LOCKED',
            `collection is being written by ${held?.what ?? 'another process'} (pid ${held?.pid} on ${held?.host}, since ${held?.since}); wait for it to finish, or delete ${path} if that process is gone`,
          );
        }
        // Stale: move it aside (only one contender wins the rename), check that what moved is the stale lock we
        // judged, and retry the exclusive create.
        const aside = `${path}.stale-${info.token}`;
        try {
          renameSync(path, aside);
        } catch {
          continue;
        }
        const moved = readLock(aside);
        if (moved && held && moved.token !== held.token && !isStale(moved)) {
          try {
            renameSync(aside, path); // we moved a fresh lock taken in between: put it back
          } catch {
            /* its owner will see its lock gone only if it checks; it does not rely on the file after creating it */
          }
          continue;
        }
        try {
          unlinkSync(aside);
        } catch {
          /* already gone */
        }
      }
    } finally {
      try {
        unlinkSync(mine);
      } catch {
        /* gone */
      }
    }
    throw new FgClipError('COLLECTION_LOCKED', `collection lock ${path}: could not take it (contended); try again`);
  }

  /** Removes the lock if it is still ours. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const held = readLock(this.path);
    if (held?.token === this.token) {
      try {
        unlinkSync(this.path);
      } catch {
        /* gone */
      }
    }
  }
}
