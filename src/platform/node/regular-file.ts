/**
 * Reading files the library does not control (model folders, image folders, caches) without being stalled or
 * flooded by a special file. Every path is `stat`ed first and anything but a regular file — a directory, a FIFO
 * (whose open blocks until a writer appears, tying up a libuv pool thread), a socket, a character device such as
 * `/dev/zero` (endless bytes) or a dangling symlink — is refused with a typed error BEFORE it is opened. The file
 * is then opened with O_NONBLOCK (a FIFO swapped in after the check cannot block the open) and `fstat`ed again, and
 * reads are bounded by the size `fstat` reports and by the caller's `maxBytes`.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { lstat, open, stat, type FileHandle } from 'node:fs/promises';
import { FgClipError, type FgClipErrorCode } from '../../errors.js';

export interface RegularFileOptions {
  /** what the file is, for messages ("config.json", "weight file", "image") */
  readonly what: string;
  /** error code for a file that exists but is not a readable regular file (or is too large) */
  readonly code: FgClipErrorCode;
  /** error code when nothing is there (also a dangling symlink); defaults to `code` */
  readonly missingCode?: FgClipErrorCode;
  /** refuse files larger than this many bytes */
  readonly maxBytes?: number;
  /** appended to messages */
  readonly hint?: string;
}

// computed on use, not at module load: the browser bundle reaches this module through shared code and stubs node:fs
const openFlags = (): number => constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** What a non-regular file is, in words. */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function fail(path: string, o: RegularFileOptions, what: string, code = o.code, cause?: unknown): FgClipError {
  return new FgClipError(code, `${path}: ${o.what} ${what}${o.hint ? `. ${o.hint}` : ''}`, cause === undefined ? undefined : { cause });
}

function statError(path: string, o: RegularFileOptions, e: unknown): FgClipError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return fail(path, o, 'does not exist (or is a symlink to nothing)', o.missingCode ?? o.code, e);
  if (code === 'ENOTDIR') return fail(path, o, 'does not exist (a parent is not a folder)', o.missingCode ?? o.code, e);
  if (code === 'ELOOP') return fail(path, o, 'is a symlink loop', o.code, e);
  return fail(path, o, `cannot be read (${code ?? String(e)})`, o.code, e);
}

/** Throws unless `st` is a regular file within the size bound. */
function checkRegular(path: string, st: Stats, o: RegularFileOptions): void {
  if (!st.isFile()) throw fail(path, o, `is ${fileKind(st)} (expected a regular file)`);
  if (o.maxBytes !== undefined && st.size > o.maxBytes) throw fail(path, o, `is ${st.size} bytes, more than the ${o.maxBytes} allowed`);
}

/** `stat` (symlinks followed) and check; never opens the file. */
async function statRegular(path: string, o: RegularFileOptions): Promise<Stats> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (e) {
    throw statError(path, o, e);
  }
  checkRegular(path, st, o);
  return st;
}

export function statRegularSync(path: string, o: RegularFileOptions): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw statError(path, o, e);
  }
  checkRegular(path, st, o);
  return st;
}

/**
 * Whether anything is at `path` — a dangling symlink counts as present, so that reading it then reports the broken
 * link instead of silently falling back; never opens it.
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    return true; // exists but unreadable: let the reader report it
  }
}

/** Opens a checked regular file; the caller closes the handle. `size` is the size of the opened file. */
export async function openRegular(path: string, o: RegularFileOptions): Promise<{ fh: FileHandle; size: number }> {
  const before = await statRegular(path, o);
  let fh: FileHandle;
  try {
    fh = await open(path, openFlags());
  } catch (e) {
    throw statError(path, o, e);
  }
  try {
    const st = await fh.stat();
    if (st.ino !== before.ino || st.dev !== before.dev) throw fail(path, o, 'was replaced while being opened');
    checkRegular(path, st, o);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** The whole content of a checked regular file (at most `maxBytes`, and at most its size when opened). */
export async function readRegular(path: string, o: RegularFileOptions): Promise<Buffer> {
  const { fh, size } = await openRegular(path, o);
  try {
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off);
      if (bytesRead === 0) break; // shrank while reading: keep what is there
      off += bytesRead;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

export async function readRegularText(path: string, o: RegularFileOptions): Promise<string> {
  return (await readRegular(path, o)).toString('utf8');
}

export function readRegularSync(path: string, o: RegularFileOptions): Buffer {
  const before = statRegularSync(path, o);
  let fd: number;
  try {
    fd = openSync(path, openFlags());
  } catch (e) {
    throw statError(path, o, e);
  }
  try {
    const st = fstatSync(fd);
    if (st.ino !== before.ino || st.dev !== before.dev) throw fail(path, o, 'was replaced while being opened');
    checkRegular(path, st, o);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}
