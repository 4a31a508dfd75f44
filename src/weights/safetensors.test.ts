import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goldenPath } from '../test-util/goldens.js';
import { upcastHalf } from './dtype.js';
import { MAX_HEADER_BYTES, readSafetensors, readSafetensorsHeader } from './safetensors.js';
import { encodeSafetensors } from './safetensors-write.js';
import { rejectsWith } from '../test-util/errors.js';

const TINY = goldenPath('fgclip-tiny', 'model.safetensors');
const SMALL = goldenPath('fgclip-small', 'model.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'fgclip-st-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** IEEE binary16 decoded arithmetically (independent of the bit-twiddling table under test). */
function halfByFormula(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
/** bfloat16 decoded arithmetically. */
function bf16ByFormula(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 7) & 0xff;
  const m = h & 0x7f;
  if (e === 0) return s * m * 2 ** -133;
  if (e === 255) return m ? NaN : s * Infinity;
  return s * (1 + m / 128) * 2 ** (e - 127);
}

/** The golden file split into its header object and data region. */
function split(file: string): { header: Record<string, any>; data: Uint8Array } {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString('utf8')), data: b.subarray(8 + n) };
}
/** A file from a raw header text and data bytes. */
function rawFile(name: string, headerText: string, data: Uint8Array, declaredLength?: bigint): string {
  const h = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(h.length));
  const p = join(tmp, name);
  writeFileSync(p, Buffer.concat([len, h, data]));
  return p;
}
function mutated(name: string, edit: (h: Record<string, any>) => void): string {
  const { header, data } = split(TINY);
  edit(header);
  return rawFile(name, JSON.stringify(header), data);
}

describe('safetensors: golden checkpoints', () => {
  test('header of fgclip-tiny: metadata, 83 tensors, F32, contiguous offsets within the file', async () => {
    const h = await readSafetensorsHeader(TINY);
    assert.deepEqual(h.metadata, { format: 'pt' });
    assert.equal(h.tensors.length, 83);
    assert.ok(h.tensors.every((t) => t.dtype === 'F32'));
    assert.equal(h.tensors[h.tensors.length - 1].end, h.fileSize);
    const ls = h.tensors.find((t) => t.name === 'logit_scale')!;
    assert.deepEqual(ls.shape, []);
  });

  test('F32 tensors are read bit-exactly (compared with the file bytes at the header offsets)', async () => {
    const h = await readSafetensorsHeader(TINY);
    const bytes = readFileSync(TINY);
    const tensors = await readSafetensors(TINY);
    assert.equal(tensors.size, 83);
    for (const e of h.tensors) {
      const t = tensors.get(e.name)!;
      assert.deepEqual(t.shape, e.shape);
      assert.equal(t.storedDtype, 'F32');
      const ref = new Float32Array(bytes.buffer.slice(bytes.byteOffset + e.begin, bytes.byteOffset + e.end));
      assert.deepEqual(t.data, ref, e.name);
    }
  });

  test('F16 upcast of fgclip-small is exact: every element of 5 tensors equals the arithmetic binary16 decode', async () => {
    const h = await readSafetensorsHeader(SMALL);
    const bytes = readFileSync(SMALL);
    const names = [
      'logit_scale',
      'text_model.embeddings.position_embedding.weight',
      'vision_model.embeddings.patch_embedding.weight',
      'text_projection.weight',
      'vision_model.encoder.layers.2.mlp.fc1.bias',
    ];
    const tensors = await readSafetensors(SMALL, { only: (n) => names.includes(n) });
    assert.deepEqual([...tensors.keys()].sort(), [...names].sort());
    for (const name of names) {
      const e = h.tensors.find((t) => t.name === name)!;
      const t = tensors.get(name)!;
      assert.equal(t.storedDtype, 'F16');
      assert.equal(t.data.length * 2, e.end - e.begin);
      for (let i = 0; i < t.data.length; i++) {
        const expect = halfByFormula(bytes.readUInt16LE(e.begin + 2 * i));
        assert.ok(Object.is(t.data[i], expect), `${name}[${i}]: ${t.data[i]} vs ${expect}`);
      }
    }
  });

  test('F16 and BF16 upcast are exact for all 65536 bit patterns (NaN stays NaN, signed zeros kept)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    for (const [dtype, ref] of [
      ['F16', halfByFormula],
      ['BF16', bf16ByFormula],
    ] as const) {
      const out = new Float32Array(65536);
      upcastHalf(dtype, all, out);
      for (let h = 0; h < 65536; h++) {
        const r = ref(h);
        assert.ok(Number.isNaN(r) ? Number.isNaN(out[h]) : Object.is(out[h], r), `${dtype} 0x${h.toString(16)}: ${out[h]} vs ${r}`);
      }
    }
  });

  test('a BF16 file is read and upcast exactly (-Inf kept with allowNonFinite)', async () => {
    const vals = [0, -0, 1.5, -2, 3.140625, 65280, 2 ** -130, -Infinity];
    const bits = new Uint16Array(vals.map((v) => new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16));
    const p = join(tmp, 'bf16.safetensors');
    writeFileSync(p, encodeSafetensors([['x', { dtype: 'BF16', shape: [2, 4], bytes: new Uint8Array(bits.buffer) }]]));
    const t = (await readSafetensors(p, { allowNonFinite: true })).get('x')!;
    assert.deepEqual(t.shape, [2, 4]);
    assert.equal(t.storedDtype, 'BF16');
    assert.deepEqual([...t.data], vals);
  });
});

describe('safetensors: malformed files are WEIGHTS_MALFORMED / WEIGHTS_DTYPE naming the file', () => {
  test('header length larger than the file', async () => {
    const { data } = split(TINY);
    const p = rawFile('len.safetensors', '{}', data, BigInt(data.length + 100));
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MALFORMED', /header length \d+ is out of range/, p);
  });
  test('header length above the 100 MB cap', async () => {
    const p = rawFile('cap.safetensors', '{}', new Uint8Array(16), BigInt(MAX_HEADER_BYTES) + 1n);
    await rejectsWith(readSafetensorsHeader(p), 'WEIGHTS_MALFORMED', /out of range/, p);
  });
  test('header length 2^64-1 (would overflow a Number)', async () => {
    const p = rawFile('huge.safetensors', '{}', new Uint8Array(16), 2n ** 64n - 1n);
    await rejectsWith(readSafetensorsHeader(p), 'WEIGHTS_MALFORMED', /18446744073709551615 is out of range/, p);
  });
  test('file shorter than 8 bytes', async () => {
    const p = join(tmp, 'short.safetensors');
    writeFileSync(p, Buffer.from([1, 2, 3]));
    await rejectsWith(readSafetensorsHeader(p), 'WEIGHTS_MALFORMED', /fewer than the 8-byte header length/, p);
  });
  test('header not JSON', async () => {
    const p = rawFile('notjson.safetensors', 'this is not json', split(TINY).data);
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MALFORMED', /not valid UTF-8 JSON/, p);
  });
  test('header is a JSON array', async () => {
    const p = rawFile('array.safetensors', '[1, 2, 3]', split(TINY).data);
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MALFORMED', /header must be a JSON object \(got an array\)/, p);
  });
  test('__metadata__ with a non-string value', async () => {
    const p = mutated('meta.safetensors', (h) => (h.__metadata__ = { format: 1 }));
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MALFORMED', /__metadata__ must be an object of string values/, p);
  });
  test('unknown dtype string names the tensor and dtype', async () => {
    const p = mutated('q8.safetensors', (h) => (h.logit_scale.dtype = 'Q8'));
    await rejectsWith(readSafetensorsHeader(p), 'WEIGHTS_DTYPE', /tensor "logit_scale" has dtype "Q8"/, p);
  });
  test('known but unloadable dtypes I64 and F64 name the tensor and dtype; `only` can skip them', async () => {
    const name = 'text_model.encoder.layers.0.self_attn.k_proj.weight'; // [32, 32] F32 = 4096 bytes
    for (const [dtype, shape] of [
      ['I64', [16, 32]],
      ['F64', [32, 16]],
    ] as const) {
      const p = mutated(`${dtype}.safetensors`, (h) => Object.assign(h[name], { dtype, shape }));
      await rejectsWith(readSafetensors(p), 'WEIGHTS_DTYPE', new RegExp(`unsupported tensor dtype for ${name.replace(/\./g, '\\.')} \\(${dtype}\\)`), p);
      const rest = await readSafetensors(p, { only: (n) => n !== name });
      assert.equal(rest.size, 82);
    }
  });
  test('offsets outside the file', async () => {
    const { data } = split(TINY);
    const p = mutated('outside.safetensors', (h) => (h.logit_scale.data_offsets = [data.length, data.length + 4]));
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MALFORMED', /tensor "logit_scale": data_offsets \[\d+, \d+\] reach past the end of the file/, p);
  });
  test('overlapping offsets', async () => {
    const a = 'text_model.final_layer_norm.weight';
    const b = 'text_model.final_layer_norm.bias';
    const p = mutated('overlap.safetensors', (h) => (h[b].data_offsets = [...h[a].data_offsets]));
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MALFORMED', /overlap/, p);
  });
  test('partially overlapping offsets (shifted back by 2 bytes)', async () => {
    const p = mutated('overlap2.safetensors', (h) => {
      const [b, e] = h['logit_scale_hardneg'].data_offsets;
      h['logit_scale_hardneg'].data_offsets = [b - 2, e - 2];
    });
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MALFORMED', /overlap/, p);
  });
  test('byte size that does not match dtype x shape', async () => {
    const p = mutated('size.safetensors', (h) => (h['text_model.final_layer_norm.bias'].shape = [33]));
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MALFORMED', /span 128 bytes but F32 \[33\] needs 132/, p);
  });
  test('shape with a negative or fractional dimension, bad data_offsets', async () => {
    for (const [i, edit] of [
      (h: Record<string, any>) => (h.logit_scale.shape = [-1]),
      (h: Record<string, any>) => (h.logit_scale.shape = [0.5]),
      (h: Record<string, any>) => (h.logit_scale.data_offsets = [4, 0]),
      (h: Record<string, any>) => (h.logit_scale.data_offsets = [0]),
      (h: Record<string, any>) => (h.logit_scale = 'F32'),
    ].entries()) {
      const p = mutated(`shape${i}.safetensors`, edit);
      await rejectsWith(readSafetensorsHeader(p), 'WEIGHTS_MALFORMED', /logit_scale/, p);
    }
  });
  test('truncated file', async () => {
    const b = readFileSync(TINY);
    const p = join(tmp, 'truncated.safetensors');
    writeFileSync(p, b.subarray(0, Math.floor(b.length / 2)));
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MALFORMED', /reach past the end of the file.*truncated/, p);
  });
  test('absent file is WEIGHTS_MISSING', async () => {
    const p = join(tmp, 'nope.safetensors');
    await rejectsWith(readSafetensors(p), 'WEIGHTS_MISSING', /does not exist/, p);
  });
});

describe('safetensors: hostile headers and values are typed errors', () => {
  test('a NaN in one tensor is WEIGHTS_NONFINITE naming it and the flat index; allowNonFinite reads it', async () => {
    const p = join(tmp, 'nan.safetensors');
    writeFileSync(
      p,
      encodeSafetensors([
        ['a', { dtype: 'F32', shape: [2], bytes: new Uint8Array(Float32Array.of(1, 2).buffer) }],
        ['b.weight', { dtype: 'F32', shape: [2, 2], bytes: new Uint8Array(Float32Array.of(0, 0, 0, NaN).buffer) }],
      ]),
    );
    await rejectsWith(readSafetensors(p), 'WEIGHTS_NONFINITE', /tensor "b\.weight" holds 1 non-finite value\(s\) \(first: NaN at flat index 3\)/, p);
    assert.ok(Number.isNaN((await readSafetensors(p, { allowNonFinite: true })).get('b.weight')!.data[3]));
  });

  test('F16 +Inf (0x7c00) is WEIGHTS_NONFINITE', async () => {
    const p = join(tmp, 'inf16.safetensors');
    writeFileSync(p, encodeSafetensors([['h', { dtype: 'F16', shape: [3], bytes: new Uint8Array(Uint16Array.of(0x3c00, 0x7c00, 0).buffer) }]]));
    await rejectsWith(readSafetensors(p), 'WEIGHTS_NONFINITE', /"h" holds 1 non-finite value\(s\) \(first: Infinity at flat index 1\)/, p);
  });

  test('dtype "constructor" / "__proto__" / "toString" (prototype keys) is WEIGHTS_DTYPE, not a crash', async () => {
    for (const dtype of ['constructor', '__proto__', 'toString']) {
      const p = rawFile(`proto-${dtype}.safetensors`, JSON.stringify({ x: { dtype, shape: [1], data_offsets: [0, 4] } }), new Uint8Array(4));
      await rejectsWith(readSafetensors(p), 'WEIGHTS_DTYPE', /not a known safetensors dtype/, p);
    }
  });
});
