/**
 * Minimal reader for the STORED (uncompressed) zip archives that `torch.save` writes (PKWARE APPNOTE 6.3:
 * end-of-central-directory, ZIP64 locator/record, central directory, local headers). Entry data is read by byte
 * range through a file handle, never by loading the whole archive. Compressed or encrypted entries are refused.
 * CRCs are not verified: torch's own reader does not either, and the tensor shapes are checked downstream.
 */
import type { FileHandle } from 'node:fs/promises';
import { FgClipError } from '../errors.js';
import { openRegular } from '../platform/node/regular-file.js';
import { readExact } from './dtype.js';

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const MAX_CENTRAL_DIRECTORY = 64 << 20;
const MAX_ENTRIES = 1 << 20;

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly size: number;
  readonly compressedSize: number;
  readonly localHeaderOffset: number;
}

function malformed(path: string, what: string): FgClipError {
  return new FgClipError('WEIGHTS_MALFORMED', `${path}: ${what}. The file is not a valid PyTorch zip checkpoint (truncated or damaged?).`);
}

function u64(v: DataView, off: number, path: string, what: string): number {
  const x = v.getBigUint64(off, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(path, `${what} ${x} is out of range`);
  return Number(x);
}

export class StoredZip {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly entries: ReadonlyMap<string, ZipEntry>,
    private readonly dataLimit: number,
  ) {}

  static async open(path: string): Promise<StoredZip> {
    const { fh } = await openRegular(path, { what: 'weight file', code: 'WEIGHTS_MALFORMED', missingCode: 'WEIGHTS_MISSING' });
    try {
      const { entries, cdOffset } = await readCentralDirectory(fh, path);
      return new StoredZip(path, fh, entries, cdOffset);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /** Absolute file offset of an entry's data, after checking its local header and bounds. */
  async dataRange(e: ZipEntry): Promise<{ start: number; size: number }> {
    if (e.flags & 1) throw new FgClipError('WEIGHTS_MALFORMED', `${this.path}: entry ${e.name} is encrypted; encrypted checkpoints are not supported`);
    if (e.method !== 0 || e.compressedSize !== e.size) {
      throw new FgClipError(
        'WEIGHTS_MALFORMED',
        `${this.path}: entry ${e.name} is compressed (zip method ${e.method}); torch.save writes uncompressed (STORED) entries. Re-save the checkpoint with torch.save, or convert it to safetensors.`,
      );
    }
    const lh = new Uint8Array(30);
    await readExact(this.fh, lh, e.localHeaderOffset, this.path, `local header of ${e.name}`);
    const v = new DataView(lh.buffer);
    if (v.getUint32(0, true) !== SIG_LOCAL) throw malformed(this.path, `bad local header signature for entry ${e.name}`);
    const start = e.localHeaderOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
    if (start + e.size > this.dataLimit) {
      throw malformed(this.path, `entry ${e.name} (${e.size} bytes at ${start}) runs into the central directory at ${this.dataLimit}`);
    }
    return { start, size: e.size };
  }

  /** Reads an entry's bytes into `dst` (which must be exactly the entry's size). */
  async readInto(e: ZipEntry, dst: Uint8Array): Promise<void> {
    const { start, size } = await this.dataRange(e);
    if (dst.length !== size) throw malformed(this.path, `entry ${e.name} has ${size} bytes, expected ${dst.length}`);
    await readExact(this.fh, dst, start, this.path, `entry ${e.name}`);
  }

  /** Reads a whole entry; `maxBytes` bounds what an untrusted archive can make us allocate. */
  async read(e: ZipEntry, maxBytes: number): Promise<Uint8Array> {
    if (e.size > maxBytes) throw malformed(this.path, `entry ${e.name} is ${e.size} bytes, more than the ${maxBytes} allowed`);
    const dst = new Uint8Array(e.size);
    await this.readInto(e, dst);
    return dst;
  }
}

async function readCentralDirectory(fh: FileHandle, path: string): Promise<{ entries: Map<string, ZipEntry>; cdOffset: number }> {
  const fileSize = (await fh.stat()).size;
  if (fileSize < 22) throw malformed(path, `file has ${fileSize} bytes, too short for a zip archive`);
  const tailLen = Math.min(fileSize, 22 + 0xffff + 20);
  const tail = new Uint8Array(tailLen);
  await readExact(fh, tail, fileSize - tailLen, path, 'end of central directory');
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) <= tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    const head = new Uint8Array(2);
    await readExact(fh, head, 0, path, 'magic');
    const hint =
      head[0] === 0x80 ? ' (this looks like the legacy pre-1.6 torch.save format; re-save it with a recent PyTorch or convert it to safetensors)' : '';
    throw malformed(path, `no zip end-of-central-directory record found${hint}`);
  }
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (tv.getUint16(eocd + 4, true) !== 0 || tv.getUint16(eocd + 6, true) !== 0) throw malformed(path, 'multi-disk archives are not supported');

  const loc = eocd - 20;
  if (loc >= 0 && tv.getUint32(loc, true) === SIG_ZIP64_LOCATOR) {
    const recOffset = u64(tv, loc + 8, path, 'ZIP64 record offset');
    if (recOffset + 56 > fileSize) throw malformed(path, `ZIP64 record offset ${recOffset} is outside the file`);
    const rec = new Uint8Array(56);
    await readExact(fh, rec, recOffset, path, 'ZIP64 end of central directory');
    const rv = new DataView(rec.buffer);
    if (rv.getUint32(0, true) !== SIG_ZIP64_EOCD) throw malformed(path, 'bad ZIP64 end-of-central-directory signature');
    count = u64(rv, 32, path, 'ZIP64 entry count');
    cdSize = u64(rv, 40, path, 'ZIP64 central directory size');
    cdOffset = u64(rv, 48, path, 'ZIP64 central directory offset');
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw malformed(path, 'ZIP64 markers without a ZIP64 locator');
  }
  if (count > MAX_ENTRIES || cdSize > MAX_CENTRAL_DIRECTORY || cdOffset + cdSize > fileSize) {
    throw malformed(path, `central directory (${count} entries, ${cdSize} bytes at ${cdOffset}) is out of range for a ${fileSize}-byte file`);
  }
  const cd = new Uint8Array(cdSize);
  await readExact(fh, cd, cdOffset, path, 'central directory');
  const v = new DataView(cd.buffer);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || v.getUint32(p, true) !== SIG_CENTRAL) throw malformed(path, `central directory entry ${i} is damaged`);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdSize) throw malformed(path, `central directory entry ${i} overruns the directory`);
    let name: string;
    try {
      name = dec.decode(cd.subarray(p + 46, p + 46 + nameLen));
    } catch {
      throw malformed(path, `central directory entry ${i} has a name that is not UTF-8`);
    }
    let compressedSize = v.getUint32(p + 20, true);
    let size = v.getUint32(p + 24, true);
    let localHeaderOffset = v.getUint32(p + 42, true);
    if (size === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
      // ZIP64 extended information extra field (id 1): present values in this fixed order
      const z = findExtra(v, p + 46 + nameLen, extraLen, 0x0001);
      if (!z) throw malformed(path, `entry ${name} needs a ZIP64 extra field but has none`);
      let q = z.start;
      const next = (what: string): number => {
        if (q + 8 > z.end) throw malformed(path, `entry ${name}: ZIP64 extra field too short for ${what}`);
        const x = u64(v, q, path, `entry ${name} ${what}`);
        q += 8;
        return x;
      };
      if (size === 0xffffffff) size = next('size');
      if (compressedSize === 0xffffffff) compressedSize = next('compressed size');
      if (localHeaderOffset === 0xffffffff) localHeaderOffset = next('offset');
    }
    if (localHeaderOffset + 30 + compressedSize > cdOffset) {
      throw malformed(path, `entry ${name} (${compressedSize} bytes at ${localHeaderOffset}) does not fit in the ${cdOffset}-byte data area`);
    }
    if (entries.has(name)) throw malformed(path, `duplicate entry ${name}`);
    entries.set(name, { name, method: v.getUint16(p + 10, true), flags: v.getUint16(p + 8, true), size, compressedSize, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  // Entries must not share bytes: each claims at least its 30-byte local header plus its data. Overlapping entries
  // would let a small file declare many full-size storages (memory far beyond the file size).
  const spans = [...entries.values()].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < spans.length; i++) {
    const a = spans[i - 1];
    const b = spans[i];
    if (b.localHeaderOffset < a.localHeaderOffset + 30 + a.compressedSize) {
      throw malformed(path, `entries ${a.name} and ${b.name} overlap (bytes ${b.localHeaderOffset}..${a.localHeaderOffset + 30 + a.compressedSize})`);
    }
  }
  return { entries, cdOffset };
}

function findExtra(v: DataView, start: number, len: number, id: number): { start: number; end: number } | undefined {
  let p = start;
  const end = start + len;
  while (p + 4 <= end) {
    const hid = v.getUint16(p, true);
    const sz = v.getUint16(p + 2, true);
    if (p + 4 + sz > end) return undefined;
    if (hid === id) return { start: p + 4, end: p + 4 + sz };
    p += 4 + sz;
  }
  return undefined;
}
