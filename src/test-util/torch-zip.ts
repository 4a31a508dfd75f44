/**
 * Builders for hand-made PyTorch checkpoints in tests and the hostile-input corpus: a minimal STORED zip writer
 * (optionally ZIP64) and a pickle opcode emitter (CPython pickletools names).
 */
import { crc32 } from 'node:zlib';

export interface ZipIn {
  name: string;
  data: Uint8Array;
  method?: number;
  /** hostile: no local copy; the central directory points at the local header of this earlier entry */
  aliasOf?: string;
  /** hostile: the size the central directory claims (default: the data's length) */
  claimedSize?: number;
}
/** A minimal zip writer (STORED unless `method` says otherwise), optionally with ZIP64 records for every entry. */
export function makeZip(entries: ZipIn[], zip64 = false): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const offsets = new Map<string, number>();
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const alias = e.aliasOf === undefined ? undefined : offsets.get(e.aliasOf);
    const here = alias ?? offset;
    offsets.set(e.name, here);
    const size = e.claimedSize ?? e.data.length;
    const crc = crc32(e.data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(zip64 ? 45 : 20, 4);
    lh.writeUInt16LE(e.method ?? 0, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(e.data.length, 18);
    lh.writeUInt32LE(e.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    if (alias === undefined) locals.push(lh, name, Buffer.from(e.data));
    const extra = Buffer.alloc(zip64 ? 28 : 0);
    if (zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(size), 4);
      extra.writeBigUInt64LE(BigInt(size), 12);
      extra.writeBigUInt64LE(BigInt(here), 20);
    }
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(zip64 ? 45 : 20, 4);
    ch.writeUInt16LE(zip64 ? 45 : 20, 6);
    ch.writeUInt16LE(e.method ?? 0, 10);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(zip64 ? 0xffffffff : size, 20);
    ch.writeUInt32LE(zip64 ? 0xffffffff : size, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(extra.length, 30);
    ch.writeUInt32LE(zip64 ? 0xffffffff : here, 42);
    centrals.push(ch, name, extra);
    if (alias === undefined) offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(centrals);
  const tail: Buffer[] = [];
  if (zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeBigUInt64LE(BigInt(entries.length), 24);
    rec.writeBigUInt64LE(BigInt(entries.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(zip64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(zip64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : offset, 16);
  return Buffer.concat([...locals, cd, ...tail, eocd]);
}

/** Emits pickle opcodes (CPython pickletools names) for hand-built test pickles. */
export class Pickle {
  private readonly parts: Buffer[] = [Buffer.from([0x80, 2])]; // PROTO 2
  op(...bytes: number[]): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.parts.push(Buffer.from([0x58]), len, b); // BINUNICODE
    return this;
  }
  int(n: number): this {
    const b = Buffer.alloc(5);
    b[0] = 0x4a; // BININT
    b.writeInt32LE(n, 1);
    this.parts.push(b);
    return this;
  }
  global(module: string, name: string): this {
    this.parts.push(Buffer.from(`c${module}\n${name}\n`, 'utf8')); // GLOBAL
    return this;
  }
  mark = () => this.op(0x28);
  tuple = () => this.op(0x74);
  reduce = () => this.op(0x52);
  emptyTuple = () => this.op(0x29);
  ints(xs: number[]): this {
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }
  orderedDict(): this {
    return this.global('collections', 'OrderedDict').emptyTuple().reduce();
  }
  /** `_rebuild_tensor_v2(persistent_load(('storage', torch.<type>, key, 'cpu', numel)), offset, size, stride, False, OrderedDict())` */
  tensor(type: string, key: string, numel: number, offset: number, size: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', type).str(key).str('cpu').int(numel).tuple().op(0x51); // BINPERSID
    this.int(offset).ints(size).ints(stride).op(0x89).orderedDict(); // NEWFALSE
    return this.tuple().reduce();
  }
  bytes(): Buffer {
    return Buffer.concat([...this.parts, Buffer.from([0x2e])]); // STOP
  }
}

/** The entries of a torch-layout archive `archive/{data.pkl, data/<key>..., version}` plus `extra`. */
export function torchZipBytes(pkl: Uint8Array, storages: Record<string, Uint8Array>, extra: ZipIn[] = []): Buffer {
  return makeZip([
    { name: 'archive/data.pkl', data: pkl },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: 'archive/version', data: Buffer.from('3\n') },
    ...extra,
  ]);
}

export const f32bytes = (xs: number[]): Uint8Array => new Uint8Array(Float32Array.from(xs).buffer);
