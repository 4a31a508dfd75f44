import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { goldenPath } from '../test-util/goldens.js';
import { readPytorchBin } from './pytorch-bin.js';
import { readSafetensors } from './safetensors.js';
import { StoredZip } from './zip.js';
import { rejectsWith } from '../test-util/errors.js';

const PT = goldenPath('fgclip-tiny-pt', 'pytorch_model.bin');
const ST = goldenPath('fgclip-tiny', 'model.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'fgclip-pt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface ZipIn {
  name: string;
  data: Uint8Array;
  method?: number;
}
/** A minimal zip writer (STORED unless `method` says otherwise), optionally with ZIP64 records for every entry. */
function makeZip(entries: ZipIn[], zip64 = false): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(zip64 ? 45 : 20, 4);
    lh.writeUInt16LE(e.method ?? 0, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(e.data.length, 18);
    lh.writeUInt32LE(e.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    locals.push(lh, name, Buffer.from(e.data));
    const extra = Buffer.alloc(zip64 ? 28 : 0);
    if (zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(e.data.length), 4);
      extra.writeBigUInt64LE(BigInt(e.data.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(zip64 ? 45 : 20, 4);
    ch.writeUInt16LE(zip64 ? 45 : 20, 6);
    ch.writeUInt16LE(e.method ?? 0, 10);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(zip64 ? 0xffffffff : e.data.length, 20);
    ch.writeUInt32LE(zip64 ? 0xffffffff : e.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(extra.length, 30);
    ch.writeUInt32LE(zip64 ? 0xffffffff : offset, 42);
    centrals.push(ch, name, extra);
    offset += 30 + name.length + e.data.length;
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
class Pickle {
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

/** Writes a torch-layout archive `archive/{data.pkl, data/<key>..., version[, byteorder]}`. */
function torchZip(name: string, pkl: Uint8Array, storages: Record<string, Uint8Array>, extra: ZipIn[] = []): string {
  const entries: ZipIn[] = [
    { name: 'archive/data.pkl', data: pkl },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: 'archive/version', data: Buffer.from('3\n') },
    ...extra,
  ];
  const p = join(tmp, name);
  writeFileSync(p, makeZip(entries));
  return p;
}
const f32bytes = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);


describe('pytorch_model.bin: golden fgclip-tiny-pt', () => {
  test('every tensor is bit-identical to fgclip-tiny model.safetensors (same names, shapes, F32 bits)', async () => {
    const pt = await readPytorchBin(PT);
    const st = await readSafetensors(ST);
    assert.deepEqual([...pt.keys()].sort(), [...st.keys()].sort());
    for (const [name, a] of st) {
      const b = pt.get(name)!;
      assert.deepEqual(b.shape, a.shape, name);
      assert.equal(b.storedDtype, 'F32');
      assert.ok(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength).equals(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)), name);
    }
  });

  test('the same archive rewritten with ZIP64 records loads to identical tensors', async () => {
    const zip = await StoredZip.open(PT);
    const entries: ZipIn[] = [];
    for (const e of zip.entries.values()) entries.push({ name: e.name, data: await zip.read(e, 1 << 30) });
    await zip.close();
    const p = join(tmp, 'zip64.bin');
    writeFileSync(p, makeZip(entries, true));
    const a = await readPytorchBin(PT);
    const b = await readPytorchBin(p);
    assert.equal(b.size, a.size);
    for (const [name, t] of a) assert.deepEqual(b.get(name)!.data, t.data, name);
  });

  test('`only` restricts which tensors are materialised', async () => {
    const pt = await readPytorchBin(PT, { only: (n) => n.startsWith('logit_scale') });
    assert.deepEqual([...pt.keys()].sort(), ['logit_scale', 'logit_scale_finegraind', 'logit_scale_hardneg']);
  });
});

describe('pytorch_model.bin: hand-built archives', () => {
  test('strided, offset view of a HalfStorage is copied out contiguously and upcast exactly', async () => {
    const vals = [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]; // exact in f16
    const toHalf = (v: number) => {
      const e = Math.floor(Math.log2(v)); // positive normal values only
      return ((e + 15) << 10) | Math.round((v / 2 ** e - 1) * 1024);
    };
    const half = new Uint16Array(vals.map(toHalf));
    const pkl = new Pickle().orderedDict().mark().str('w').tensor('HalfStorage', '0', 9, 1, [2, 3], [1, 2]).op(0x75).bytes(); // SETITEMS
    const p = torchZip('half.bin', pkl, { '0': new Uint8Array(half.buffer) });
    const t = (await readPytorchBin(p)).get('w')!;
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.storedDtype, 'F16');
    // w[i][j] = storage[1 + i*1 + j*2]
    assert.deepEqual([...t.data], [vals[1], vals[3], vals[5], vals[2], vals[4], vals[6]]);
  });

  test('two tensors sharing one storage and a _rebuild_parameter wrapper', async () => {
    const pkl = new Pickle().orderedDict().mark()
      .str('a').tensor('FloatStorage', '0', 6, 0, [2, 3], [3, 1])
      .str('b').global('torch._utils', '_rebuild_parameter').mark().tensor('FloatStorage', '0', 6, 3, [3], [1]).op(0x88).orderedDict().tuple().reduce()
      .op(0x75).bytes();
    const p = torchZip('shared.bin', pkl, { '0': f32bytes([1, 2, 3, 4, 5, 6]) });
    const m = await readPytorchBin(p);
    assert.deepEqual([...m.get('a')!.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...m.get('b')!.data], [4, 5, 6]);
    assert.notEqual(m.get('a')!.data.buffer, m.get('b')!.data.buffer);
  });

  test('LongStorage tensors are WEIGHTS_DTYPE naming the tensor unless skipped by `only`', async () => {
    const pkl = new Pickle().orderedDict().mark()
      .str('text_model.embeddings.position_ids').tensor('LongStorage', '0', 2, 0, [1, 2], [2, 1])
      .str('w').tensor('FloatStorage', '1', 1, 0, [], [])
      .op(0x75).bytes();
    const p = torchZip('long.bin', pkl, { '0': new Uint8Array(16), '1': f32bytes([7]) });
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_DTYPE', /text_model\.embeddings\.position_ids \(I64\)/, p);
    const m = await readPytorchBin(p, { only: (n) => !n.endsWith('position_ids') });
    assert.deepEqual([...m.get('w')!.data], [7]);
    assert.deepEqual(m.get('w')!.shape, []);
  });
});

describe('pytorch_model.bin: malicious or broken pickles are refused without executing anything', () => {
  const marker = join(tmp, 'pwned');

  test("GLOBAL 'os system' + REDUCE is WEIGHTS_UNSAFE naming os.system; the command never runs", async () => {
    const pkl = new Pickle().global('os', 'system').mark().str(`touch ${marker}`).tuple().reduce().bytes();
    const p = torchZip('os.bin', pkl, {});
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_UNSAFE', /global os\.system is not allowed/, p);
    assert.equal(existsSync(marker), false);
  });

  test("STACK_GLOBAL 'builtins eval' is WEIGHTS_UNSAFE naming builtins.eval", async () => {
    const pkl = new Pickle().str('builtins').str('eval').op(0x93).mark().str(`__import__('os').system('touch ${marker}')`).tuple().reduce().bytes();
    const p = torchZip('eval.bin', pkl, {});
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_UNSAFE', /global builtins\.eval is not allowed/, p);
    assert.equal(existsSync(marker), false);
  });

  test('posix.system, subprocess.Popen and torch.load itself are refused', async () => {
    for (const [m, n] of [['posix', 'system'], ['subprocess', 'Popen'], ['torch', 'load'], ['torch._utils', '_rebuild_device_tensor_from_numpy']]) {
      const p = torchZip(`${m}.bin`, new Pickle().global(m, n).emptyTuple().reduce().bytes(), {});
      await rejectsWith(readPytorchBin(p), 'WEIGHTS_UNSAFE', new RegExp(`global ${m}\\.${n} is not allowed`), p);
    }
  });

  test('REDUCE on an allowed but non-callable global (torch.FloatStorage) is WEIGHTS_UNSAFE', async () => {
    const p = torchZip('call.bin', new Pickle().global('torch', 'FloatStorage').emptyTuple().reduce().bytes(), {});
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_UNSAFE', /call of torch\.FloatStorage is not allowed/, p);
  });

  test('unknown opcodes (INST 0x69, 0xff) are WEIGHTS_UNSAFE', async () => {
    for (const op of [0x69, 0xff]) {
      const p = torchZip(`op${op}.bin`, new Pickle().op(op).bytes(), {});
      await rejectsWith(readPytorchBin(p), 'WEIGHTS_UNSAFE', new RegExp(`opcode 0x${op.toString(16)} is not allowed`), p);
    }
  });

  test('a persistent id pointing at a missing data/<key> entry is WEIGHTS_MALFORMED', async () => {
    const pkl = new Pickle().orderedDict().mark().str('w').tensor('FloatStorage', '7', 1, 0, [1], [1]).op(0x75).bytes();
    const p = torchZip('missing.bin', pkl, { '0': f32bytes([1]) });
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_MALFORMED', /storage "7", but the archive has no data\/7 entry/, p);
  });

  test('a view reaching past its storage, and a storage entry of the wrong size, are WEIGHTS_MALFORMED', async () => {
    const past = new Pickle().orderedDict().mark().str('w').tensor('FloatStorage', '0', 4, 2, [2, 2], [2, 1]).op(0x75).bytes();
    const p1 = torchZip('past.bin', past, { '0': f32bytes([1, 2, 3, 4]) });
    await rejectsWith(readPytorchBin(p1), 'WEIGHTS_MALFORMED', /reads past its 4-element storage/, p1);
    const size = new Pickle().orderedDict().mark().str('w').tensor('FloatStorage', '0', 4, 0, [4], [1]).op(0x75).bytes();
    const p2 = torchZip('size.bin', size, { '0': f32bytes([1, 2, 3]) });
    await rejectsWith(readPytorchBin(p2), 'WEIGHTS_MALFORMED', /storage 0 has 12 bytes but the pickle declares 4 F32 elements/, p2);
  });

  test('truncated pickle, non-dict top level and non-tensor values are WEIGHTS_MALFORMED', async () => {
    const full = new Pickle().orderedDict().mark().str('w').tensor('FloatStorage', '0', 1, 0, [1], [1]).op(0x75).bytes();
    const p1 = torchZip('trunc.bin', full.subarray(0, 40), { '0': f32bytes([1]) });
    await rejectsWith(readPytorchBin(p1), 'WEIGHTS_MALFORMED', /pickle/, p1);
    const p2 = torchZip('list.bin', new Pickle().op(0x5d).bytes(), {});
    await rejectsWith(readPytorchBin(p2), 'WEIGHTS_MALFORMED', /top-level object is list/, p2);
    const p3 = torchZip('nontensor.bin', new Pickle().orderedDict().str('epoch').int(3).op(0x73).bytes(), {});
    await rejectsWith(readPytorchBin(p3), 'WEIGHTS_MALFORMED', /"epoch" is number, not a tensor/, p3);
  });
});

describe('pytorch_model.bin: zip container errors', () => {
  test('a compressed (deflate) entry is refused with a clear message', async () => {
    const pkl = new Pickle().orderedDict().mark().str('w').tensor('FloatStorage', '0', 1, 0, [1], [1]).op(0x75).bytes();
    const p = join(tmp, 'deflate.bin');
    writeFileSync(p, makeZip([{ name: 'archive/data.pkl', data: pkl, method: 8 }, { name: 'archive/data/0', data: f32bytes([1]) }]));
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_MALFORMED', /entry archive\/data\.pkl is compressed \(zip method 8\)/, p);
  });
  test('byteorder "big" is refused', async () => {
    const pkl = new Pickle().orderedDict().bytes();
    const p = torchZip('big.bin', pkl, {}, [{ name: 'archive/byteorder', data: Buffer.from('big') }]);
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_MALFORMED', /byteorder is "big"/, p);
  });
  test('not a zip, legacy torch format, truncated archive', async () => {
    const p1 = join(tmp, 'random.bin');
    writeFileSync(p1, Buffer.alloc(100, 7));
    await rejectsWith(readPytorchBin(p1), 'WEIGHTS_MALFORMED', /no zip end-of-central-directory record/, p1);
    const p2 = join(tmp, 'legacy.bin');
    writeFileSync(p2, Buffer.concat([Buffer.from([0x80, 0x02, 0x8a, 0x0a]), Buffer.alloc(60)]));
    await rejectsWith(readPytorchBin(p2), 'WEIGHTS_MALFORMED', /legacy pre-1\.6 torch\.save format/, p2);
    const b = readFileSync(PT);
    const p3 = join(tmp, 'cut.bin');
    writeFileSync(p3, b.subarray(0, Math.floor(b.length / 2)));
    await rejectsWith(readPytorchBin(p3), 'WEIGHTS_MALFORMED', /no zip end-of-central-directory record found.*truncated/, p3);
  });
});
