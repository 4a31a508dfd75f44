import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goldenPath } from '../test-util/goldens.js';
import { readPytorchBin } from './pytorch-bin.js';
import { readSafetensors } from './safetensors.js';
import { StoredZip } from './zip.js';
import { rejectsWith } from '../test-util/errors.js';
import { f32bytes, makeZip, Pickle, torchZipBytes, type ZipIn } from '../test-util/torch-zip.js';

const PT = goldenPath('fgclip-tiny-pt', 'pytorch_model.bin');
const ST = goldenPath('fgclip-tiny', 'model.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'fgclip-pt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a torch-layout archive `archive/{data.pkl, data/<key>..., version[, byteorder]}`. */
function torchZip(name: string, pkl: Uint8Array, storages: Record<string, Uint8Array>, extra: ZipIn[] = []): string {
  const p = join(tmp, name);
  writeFileSync(p, torchZipBytes(pkl, storages, extra));
  return p;
}

describe('pytorch_model.bin: golden fgclip-tiny-pt', () => {
  test('every tensor is bit-identical to fgclip-tiny model.safetensors (same names, shapes, F32 bits)', async () => {
    const pt = await readPytorchBin(PT);
    const st = await readSafetensors(ST);
    assert.deepEqual([...pt.keys()].sort(), [...st.keys()].sort());
    for (const [name, a] of st) {
      const b = pt.get(name)!;
      assert.deepEqual(b.shape, a.shape, name);
      assert.equal(b.storedDtype, 'F32');
      assert.ok(
        Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength).equals(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)),
        name,
      );
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
    const pkl = new Pickle()
      .orderedDict()
      .mark()
      .str('a')
      .tensor('FloatStorage', '0', 6, 0, [2, 3], [3, 1])
      .str('b')
      .global('torch._utils', '_rebuild_parameter')
      .mark()
      .tensor('FloatStorage', '0', 6, 3, [3], [1])
      .op(0x88)
      .orderedDict()
      .tuple()
      .reduce()
      .op(0x75)
      .bytes();
    const p = torchZip('shared.bin', pkl, { '0': f32bytes([1, 2, 3, 4, 5, 6]) });
    const m = await readPytorchBin(p);
    assert.deepEqual([...m.get('a')!.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...m.get('b')!.data], [4, 5, 6]);
    assert.notEqual(m.get('a')!.data.buffer, m.get('b')!.data.buffer);
  });

  test('LongStorage tensors are WEIGHTS_DTYPE naming the tensor unless skipped by `only`', async () => {
    const pkl = new Pickle()
      .orderedDict()
      .mark()
      .str('text_model.embeddings.position_ids')
      .tensor('LongStorage', '0', 2, 0, [1, 2], [2, 1])
      .str('w')
      .tensor('FloatStorage', '1', 1, 0, [], [])
      .op(0x75)
      .bytes();
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
    for (const [m, n] of [
      ['posix', 'system'],
      ['subprocess', 'Popen'],
      ['torch', 'load'],
      ['torch._utils', '_rebuild_device_tensor_from_numpy'],
    ]) {
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
    writeFileSync(
      p,
      makeZip([
        { name: 'archive/data.pkl', data: pkl, method: 8 },
        { name: 'archive/data/0', data: f32bytes([1]) },
      ]),
    );
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

describe('pytorch_model.bin: memory bounded by the file size; hostile layouts are typed errors', () => {
  test('a ~1 KB file with a stride-0 view of 1.25e8 elements (500 MB) over a 1-element storage is WEIGHTS_MALFORMED before allocating', async () => {
    const pkl = new Pickle().orderedDict().mark().str('w').tensor('FloatStorage', '0', 1, 0, [125_000_000], [0]).op(0x75).bytes();
    const p = torchZip('stride0.bin', pkl, { '0': f32bytes([1]) });
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_MALFORMED', /view of 125000000 elements .* over the 1-element storage 0/, p);
  });

  test('a stride-0 view with 1e30 elements (size [1e15, 1e15]) is WEIGHTS_MALFORMED, not a RangeError', async () => {
    const pkl = new Pickle()
      .orderedDict()
      .mark()
      .str('w')
      .global('torch._utils', '_rebuild_tensor_v2')
      .mark()
      .mark()
      .str('storage')
      .global('torch', 'FloatStorage')
      .str('0')
      .str('cpu')
      .int(1)
      .tuple()
      .op(0x51)
      .int(0)
      .mark()
      .op(0x8a, 7, 0, 0x80, 0xc6, 0xa4, 0x7e, 0x8d, 0x03)
      .op(0x8a, 7, 0, 0x80, 0xc6, 0xa4, 0x7e, 0x8d, 0x03)
      .tuple()
      .ints([0, 0])
      .op(0x89)
      .orderedDict()
      .tuple()
      .reduce()
      .op(0x75)
      .bytes();
    const p = torchZip('stride0-huge.bin', pkl, { '0': f32bytes([1]) });
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_MALFORMED', /over the 1-element storage/, p);
  });

  test('100 zip entries aliasing the same 4 MB storage bytes (overlapping entries) are WEIGHTS_MALFORMED', async () => {
    const n = 100;
    const pkl = new Pickle().orderedDict().mark();
    for (let i = 0; i < n; i++) pkl.str(`w${i}`).tensor('FloatStorage', String(i), 1 << 20, 0, [1 << 20], [1]);
    const entries: ZipIn[] = [
      { name: 'archive/data.pkl', data: pkl.op(0x75).bytes() },
      { name: 'archive/data/0', data: new Uint8Array(4 << 20) },
    ];
    for (let i = 1; i < n; i++) entries.push({ name: `archive/data/${i}`, data: new Uint8Array(4 << 20), aliasOf: 'archive/data/0' });
    entries.push({ name: 'archive/version', data: Buffer.from('3\n') });
    const p = join(tmp, 'alias.bin');
    writeFileSync(p, makeZip(entries));
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_MALFORMED', /entries archive\/data\/\d+ and archive\/data\/\d+ overlap/, p);
  });

  test('a zip entry claiming 4 GB in a small file is WEIGHTS_MALFORMED before any allocation', async () => {
    const pkl = new Pickle()
      .orderedDict()
      .mark()
      .str('w')
      .tensor('FloatStorage', '0', 2 ** 30 - 1, 0, [1], [1])
      .op(0x75)
      .bytes();
    const p = join(tmp, 'claim.bin');
    writeFileSync(
      p,
      makeZip([
        { name: 'archive/data.pkl', data: pkl },
        { name: 'archive/data/0', data: f32bytes([1]), claimedSize: 2 ** 32 - 4 },
        { name: 'archive/version', data: Buffer.from('3\n') },
      ]),
    );
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_MALFORMED', /archive\/data\/0 \(4294967292 bytes at \d+\) does not fit/, p);
  });

  test('one storage viewed by 5000 full-size tensors (memory 5000× the file) is WEIGHTS_MALFORMED', async () => {
    const pkl = new Pickle().orderedDict().mark();
    for (let i = 0; i < 5000; i++) pkl.str(`w${i}`).tensor('FloatStorage', '0', 4096, 0, [4096], [1]);
    const p = torchZip('views.bin', pkl.op(0x75).bytes(), { '0': new Uint8Array(4 * 4096) });
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_MALFORMED', /tensors hold 20480000 elements but their storages only 4096/, p);
  });

  test('APPENDS of 300000 items (a spread would overflow the stack) ends in a typed WEIGHTS_MALFORMED', async () => {
    const pkl = new Pickle().op(0x5d).mark(); // EMPTY_LIST MARK
    for (let i = 0; i < 300_000; i++) pkl.op(0x4b, i & 0xff); // BININT1
    const p = torchZip('appends.bin', pkl.op(0x65).bytes(), {}); // APPENDS
    await rejectsWith(readPytorchBin(p), 'WEIGHTS_MALFORMED', /top-level object is list/, p);
  });

  test('GLOBAL torch.constructor / torch.__proto__ (prototype keys of a plain allow-list object) are WEIGHTS_UNSAFE', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const p = torchZip(`proto-${name}.bin`, new Pickle().global('torch', name).emptyTuple().reduce().bytes(), {});
      await rejectsWith(readPytorchBin(p), 'WEIGHTS_UNSAFE', new RegExp(`global torch\\.${name} is not allowed`), p);
    }
  });

  test('NaN and ±Inf weights are WEIGHTS_NONFINITE naming the tensor and the first bad index', async () => {
    for (const [bad, shown] of [
      [NaN, 'NaN'],
      [Infinity, 'Infinity'],
      [-Infinity, '-Infinity'],
    ] as const) {
      const pkl = new Pickle()
        .orderedDict()
        .mark()
        .str('ok')
        .tensor('FloatStorage', '0', 2, 0, [2], [1])
        .str('vision_model.bad')
        .tensor('FloatStorage', '1', 3, 0, [3], [1])
        .op(0x75)
        .bytes();
      const p = torchZip(`nonfinite-${shown}.bin`, pkl, { '0': f32bytes([1, 2]), '1': f32bytes([0, bad, 1]) });
      await rejectsWith(
        readPytorchBin(p),
        'WEIGHTS_NONFINITE',
        new RegExp(`tensor "vision_model\\.bad" holds 1 non-finite value\\(s\\) \\(first: ${shown} at flat index 1\\)`),
        p,
      );
      const m = await readPytorchBin(p, { allowNonFinite: true });
      assert.ok(Object.is(m.get('vision_model.bad')!.data[1], Math.fround(bad)));
    }
  });
});
