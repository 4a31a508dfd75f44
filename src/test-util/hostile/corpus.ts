/**
 * The generated hostile-input corpus: deterministic (seeded) mutations of valid inputs, built in memory at test time
 * so no binary is committed. Each generator yields named cases; the hostile suite (src/hostile/*.test.ts) feeds them
 * to the library and requires a typed FgClipError or a correct answer, within the runner's timeout and a memory bound.
 */
import { crc32 } from 'node:zlib';
import { mulberry32 } from '../../train/data/rng.js';
import { encodeSafetensors } from '../../weights/safetensors-write.js';
import { f32bytes, makeZip, Pickle, torchZipBytes, type ZipIn } from '../torch-zip.js';

export interface Case<T> {
  readonly name: string;
  readonly input: T;
}

/** Seeded PRNG (mulberry32), the one the training data pipeline uses. */
export const rng = mulberry32;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** JSON values an untrusted file may put where a number, string, list or object is expected. */
export const HOSTILE_VALUES: readonly unknown[] = [
  -1,
  0,
  1,
  1.5,
  1e9,
  1e308,
  -1e308,
  2 ** 53,
  2 ** 31,
  2 ** 32 - 1,
  1e-320,
  -0,
  '12',
  '',
  'NaN',
  'constructor',
  '__proto__',
  'toString',
  '\u0000',
  'x'.repeat(10_000),
  null,
  true,
  false,
  [],
  [1, 2, 3],
  {},
  JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}'),
  [[[[[]]]]],
];

/** Byte-level mutations of `bytes`: truncations, bit flips, insertions, overwrites with boundary values. */
export function* byteMutations(base: Uint8Array, seed: number, n: number): Generator<Case<Uint8Array>> {
  const r = rng(seed);
  const cuts = [0, 1, 7, 8, 9, Math.floor(base.length / 2), base.length - 1];
  for (const c of cuts) if (c >= 0 && c < base.length) yield { name: `truncated at ${c}`, input: base.slice(0, c) };
  for (let i = 0; i < n; i++) {
    const b = Uint8Array.from(base);
    const kind = Math.floor(r() * 4);
    const at = Math.floor(r() * b.length);
    if (kind === 0) {
      b[at] ^= 1 << Math.floor(r() * 8);
      yield { name: `bit flip at ${at}`, input: b };
    } else if (kind === 1) {
      const v = pick(r, [0x00, 0xff, 0x7f, 0x80]);
      for (let k = 0; k < 8 && at + k < b.length; k++) b[at + k] = v;
      yield { name: `8 bytes of 0x${v.toString(16)} at ${at}`, input: b };
    } else if (kind === 2) {
      const extra = Uint8Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b.subarray(0, at));
      out.set(extra, at);
      out.set(b.subarray(at), at + extra.length);
      yield { name: `${extra.length} random bytes inserted at ${at}`, input: out };
    } else {
      const len = 1 + Math.floor(r() * 32);
      yield { name: `${len} bytes removed at ${at}`, input: Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + len)]) };
    }
  }
}

// ---------------------------------------------------------------- safetensors

function safetensorsWithHeader(header: unknown, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** A valid two-tensor safetensors file. */
export function validSafetensors(): Uint8Array {
  return encodeSafetensors([
    ['a', { dtype: 'F32', shape: [2, 3], bytes: f32bytes([1, 2, 3, 4, 5, 6]) }],
    ['b', { dtype: 'F16', shape: [4], bytes: new Uint8Array(Uint16Array.of(0x3c00, 0x4000, 0x4200, 0x4400).buffer) }],
  ]);
}

/** Header-level mutations (each field replaced by hostile values, structural attacks) plus byte-level mutations. */
export function* safetensorsCases(seed = 1): Generator<Case<Uint8Array>> {
  const data = new Uint8Array(32);
  const good = { a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] }, b: { dtype: 'F16', shape: [4], data_offsets: [24, 32] } };
  for (const field of ['dtype', 'shape', 'data_offsets'] as const) {
    for (const v of HOSTILE_VALUES) {
      const h = structuredClone(good) as Record<string, Record<string, unknown>>;
      h.a[field] = v;
      yield { name: `a.${field} = ${JSON.stringify(v)?.slice(0, 30)}`, input: safetensorsWithHeader(h, data) };
    }
  }
  const structural: [string, unknown][] = [
    ['overlapping tensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }],
    ['offsets past the file', { a: { dtype: 'F32', shape: [1e6], data_offsets: [0, 4e6] } }],
    ['shape product beyond 2^53', { a: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }],
    ['20000 zero-size tensors', Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`t${i}`, { dtype: 'F32', shape: [0], data_offsets: [0, 0] }]))],
    ['__metadata__ not strings', { __metadata__: { a: 1 }, ...good }],
    ['__proto__ tensor name', JSON.parse('{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}')],
    ['array header', [good]],
    ['deeply nested header', `{"a":${deepJson(100_000)}}`],
    ['deeply nested shape', `{"a":{"dtype":"F32","shape":${deepJson(100_000)},"data_offsets":[0,4]}}`],
    ['deeply nested data_offsets', `{"a":{"dtype":"F32","shape":[1],"data_offsets":${deepJson(100_000)}}}`],
    ['deeply nested dtype', `{"a":{"dtype":${deepJson(100_000)},"shape":[1],"data_offsets":[0,4]}}`],
    ['NaN weights', { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }],
  ];
  for (const [name, h] of structural) {
    const d = name === 'NaN weights' ? f32bytes([NaN]) : data;
    yield { name, input: safetensorsWithHeader(h, d) };
  }
  for (const len of [0n, 7n, 2n ** 63n, 2n ** 64n - 1n, 100_000_001n])
    yield { name: `declared header length ${len}`, input: safetensorsWithHeader(good, data, len) };
  yield { name: 'header not UTF-8', input: safetensorsWithHeader('\u00ff', data, 2n) };
  const bad = Buffer.from('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
  bad[3] = 0xc3; // broken UTF-8 inside the JSON
  yield { name: 'invalid UTF-8 in header JSON', input: safetensorsWithHeader(bad.toString('latin1'), data) };
  yield* byteMutations(validSafetensors(), seed, 60);
}

// ---------------------------------------------------------------- PyTorch zip + pickle

function stateDictPickle(): Uint8Array {
  return new Pickle()
    .orderedDict()
    .mark()
    .str('w')
    .tensor('FloatStorage', '0', 6, 0, [2, 3], [3, 1])
    .str('v')
    .tensor('FloatStorage', '0', 6, 3, [3], [1])
    .op(0x75)
    .bytes();
}

export function validTorchZip(): Uint8Array {
  return torchZipBytes(stateDictPickle(), { '0': f32bytes([1, 2, 3, 4, 5, 6]) });
}

/** Opcodes of the pickle VM, safe and unsafe, for random programs. */
const OPCODES = [
  0x80, 0x95, 0x7d, 0x5d, 0x29, 0x28, 0x58, 0x8c, 0x4a, 0x4b, 0x4d, 0x8a, 0x47, 0x88, 0x89, 0x4e, 0x74, 0x85, 0x86, 0x87, 0x73, 0x75, 0x61, 0x65, 0x71, 0x72,
  0x94, 0x68, 0x6a, 0x63, 0x93, 0x52, 0x62, 0x51, 0x2e, 0x69, 0x6f, 0x81, 0x92, 0x42, 0x43, 0x8e, 0x96, 0x97, 0x98, 0x00, 0xff,
];

/** Pickle programs: random opcode streams, resource attacks, and mutations of a valid state dict pickle. */
export function* pickleCases(seed = 2): Generator<Case<Uint8Array>> {
  const r = rng(seed);
  for (let i = 0; i < 80; i++) {
    const n = 1 + Math.floor(r() * 40);
    const ops = Array.from({ length: n }, () => {
      const op = pick(r, OPCODES);
      const arg = Array.from({ length: Math.floor(r() * 9) }, () => Math.floor(r() * 256));
      return [op, ...arg];
    }).flat();
    yield { name: `random program ${i}`, input: Uint8Array.from([0x80, 2, ...ops, 0x2e]) };
  }
  const big = (n: number, op: number[]) => {
    const p = new Pickle().op(0x5d).mark();
    for (let i = 0; i < n; i++) p.op(...op);
    return p;
  };
  yield { name: 'APPENDS of 200000 ints', input: big(200_000, [0x4b, 1]).op(0x65).bytes() };
  yield { name: 'TUPLE of 200000 Nones', input: big(200_000, [0x4e]).op(0x74).bytes() };
  yield { name: '2^20 + 1 MARKs (stack bound)', input: Uint8Array.from([0x80, 2, ...new Uint8Array((1 << 20) + 1).fill(0x28), 0x2e]) };
  yield { name: 'LONG_BINPUT with key 2^32-1 repeatedly', input: new Pickle().op(0x4e, 0x72, 0xff, 0xff, 0xff, 0xff, 0x72, 0xfe, 0xff, 0xff, 0xff).bytes() };
  yield { name: 'BINUNICODE claiming 4 GB', input: Uint8Array.from([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0xff, 0x61]) };
  yield { name: 'self-appending list', input: new Pickle().op(0x5d, 0x94, 0x68, 0x00, 0x61).bytes() };
  yield { name: 'os.system', input: new Pickle().global('os', 'system').mark().str('true').tuple().reduce().bytes() };
  yield { name: 'torch.constructor', input: new Pickle().global('torch', 'constructor').emptyTuple().reduce().bytes() };
  yield {
    name: 'storage numel 2^52',
    input: new Pickle()
      .orderedDict()
      .mark()
      .str('w')
      .tensor('FloatStorage', '0', 2 ** 31 - 1, 0, [1], [1])
      .op(0x75)
      .bytes(),
  };
  yield {
    name: 'stride-0 view of 1e8',
    input: new Pickle().orderedDict().mark().str('w').tensor('FloatStorage', '0', 6, 0, [100_000_000], [0]).op(0x75).bytes(),
  };
  yield { name: 'negative-looking stride', input: new Pickle().orderedDict().mark().str('w').tensor('FloatStorage', '0', 6, 0, [2], [-1]).op(0x75).bytes() };
  yield* byteMutations(stateDictPickle(), seed + 1, 80);
}

/** Whole torch zip archives: container-level attacks and byte mutations of a valid archive. */
export function* torchZipCases(seed = 3): Generator<Case<Uint8Array>> {
  const pkl = stateDictPickle();
  const storage = f32bytes([1, 2, 3, 4, 5, 6]);
  for (const c of pickleCases(seed)) yield { name: `pickle: ${c.name}`, input: torchZipBytes(c.input, { '0': storage }) };
  const entries = (extra: Partial<ZipIn> = {}): ZipIn[] => [
    { name: 'archive/data.pkl', data: pkl },
    { name: 'archive/data/0', data: storage, ...extra },
    { name: 'archive/version', data: Buffer.from('3\n') },
  ];
  yield { name: 'storage entry claims 4 GB', input: makeZip(entries({ claimedSize: 2 ** 32 - 2 })) };
  yield { name: 'storage entry deflated', input: makeZip(entries({ method: 8 })) };
  yield {
    name: 'pickle aliased onto the storage entry',
    input: makeZip([
      { name: 'archive/data/0', data: storage },
      { name: 'archive/data.pkl', data: pkl, aliasOf: 'archive/data/0' },
      { name: 'archive/version', data: Buffer.from('3\n') },
    ]),
  };
  yield { name: 'ZIP64 records', input: makeZip(entries(), true) };
  yield { name: 'no data.pkl', input: makeZip([{ name: 'archive/data/0', data: storage }]) };
  yield { name: 'two data.pkl', input: makeZip([...entries(), { name: 'other/data.pkl', data: pkl }]) };
  yield* byteMutations(validTorchZip(), seed + 1, 120);
}

// ---------------------------------------------------------------- JSON files

/** Every (path, hostile value) replacement of the leaves and objects of `base`, plus a few structural attacks. */
export function* jsonFieldCases(base: unknown, seed: number, limit = 400): Generator<Case<unknown>> {
  const r = rng(seed);
  const paths: (string | number)[][] = [];
  const walk = (x: unknown, path: (string | number)[]) => {
    if (paths.length > 5000) return;
    paths.push(path);
    if (Array.isArray(x)) x.slice(0, 3).forEach((v, i) => walk(v, [...path, i]));
    else if (typeof x === 'object' && x !== null) for (const [k, v] of Object.entries(x).slice(0, 40)) walk(v, [...path, k]);
  };
  walk(base, []);
  for (let i = 0; i < limit; i++) {
    const path = pick(r, paths);
    const value = pick(r, HOSTILE_VALUES);
    const copy = structuredClone(base) as Record<string | number, unknown>;
    if (path.length === 0) {
      yield { name: `whole file = ${JSON.stringify(value)?.slice(0, 30)}`, input: value };
      continue;
    }
    let o = copy as Record<string | number, unknown>;
    for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
    o[path[path.length - 1]] = structuredClone(value);
    yield { name: `${path.join('.')} = ${JSON.stringify(value)?.slice(0, 30)}`, input: copy };
  }
}

/** Nested JSON of the given depth (arrays), as a string. */
export function deepJson(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

// ---------------------------------------------------------------- images

function pngChunk(type: string, data: Uint8Array, badCrc = false): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(td) ^ (badCrc ? 1 : 0)) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A PNG whose IHDR declares `w`×`h` (the pixel data is whatever `idat` holds). */
export function pngDeclaring(w: number, h: number, idat: Uint8Array, opts: { badCrc?: boolean; colorType?: number; bitDepth?: number } = {}): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w >>> 0, 0);
  ihdr.writeUInt32BE(h >>> 0, 4);
  ihdr[8] = opts.bitDepth ?? 8;
  ihdr[9] = opts.colorType ?? 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr, opts.badCrc),
    pngChunk('IDAT', idat),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** Image byte strings: empty, headers only, huge declared dimensions, bad CRCs, wrong magic, and mutations of `valid`. */
export function* imageCases(valid: readonly Uint8Array[], seed = 4): Generator<Case<Uint8Array>> {
  yield { name: 'zero bytes', input: new Uint8Array(0) };
  yield { name: 'PNG magic only', input: Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) };
  yield { name: 'JPEG SOI only', input: Uint8Array.from([0xff, 0xd8, 0xff]) };
  yield { name: 'GIF header only', input: Buffer.from('GIF89a') };
  yield { name: 'PNG declaring 100000×100000', input: pngDeclaring(100_000, 100_000, new Uint8Array(16)) };
  yield { name: 'PNG declaring 2^31-1 × 1', input: pngDeclaring(2 ** 31 - 1, 1, new Uint8Array(16)) };
  yield { name: 'PNG declaring 0×0', input: pngDeclaring(0, 0, new Uint8Array(16)) };
  yield { name: 'PNG with bad IHDR CRC', input: pngDeclaring(2, 2, new Uint8Array(16), { badCrc: true }) };
  yield { name: 'PNG with colour type 9', input: pngDeclaring(2, 2, new Uint8Array(16), { colorType: 9 }) };
  yield { name: 'PNG with bit depth 3', input: pngDeclaring(2, 2, new Uint8Array(16), { bitDepth: 3 }) };
  yield { name: 'SVG', input: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"/>') };
  yield { name: 'random bytes', input: Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24) };
  let k = 0;
  for (const v of valid) yield* byteMutations(v, seed + k++, 25);
}

// ---------------------------------------------------------------- boxes and texts

/** Pixel boxes against a w×h image: non-finite, negative, inverted, huge, wrong arity and types. */
export function boxCases(w: number, h: number): Case<unknown>[] {
  const big = [1e9, 1e15, 1e300, Number.MAX_VALUE];
  const out: Case<unknown>[] = [
    { name: 'NaN', input: [NaN, 0, 1, 1] },
    { name: 'Infinity', input: [0, 0, Infinity, 1] },
    { name: '-Infinity', input: [-Infinity, 0, 1, 1] },
    { name: 'negative inside', input: [-5, -5, 3, 3] },
    { name: 'inverted', input: [5, 5, 1, 1] },
    { name: 'zero area', input: [2, 2, 2, 2] },
    { name: 'outside', input: [w + 1, h + 1, w + 5, h + 5] },
    { name: 'three numbers', input: [1, 2, 3] },
    { name: 'strings', input: ['0', '0', '1', '1'] },
    { name: 'null', input: null },
    { name: 'object', input: { x1: 0 } },
    { name: 'sub-pixel', input: [1.25, 1.25, 1.5, 1.5] },
    { name: 'whole image', input: [0, 0, w, h] },
  ];
  for (const b of big) {
    out.push({ name: `[0,0,${b},${b}]`, input: [0, 0, b, b] });
    out.push({ name: `[-${b},-${b},${b},${b}]`, input: [-b, -b, b, b] });
    out.push({ name: `[-${b},0,1,1]`, input: [-b, 0, 1, 1] });
  }
  return out;
}

/** Texts: huge, control characters, lone surrogates, NUL, combining floods, RTL, special-token look-alikes. */
export function textCases(): Case<string>[] {
  return [
    { name: 'empty', input: '' },
    { name: '1 MB of "a "', input: 'a '.repeat(500_000) },
    { name: '200 KB without spaces', input: 'x'.repeat(200_000) },
    { name: 'control characters', input: Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\u007f\u0085' },
    { name: 'lone high surrogate', input: 'cat \ud800 dog' },
    { name: 'lone low surrogate', input: '\udc00\udc00 photo' },
    { name: 'reversed surrogate pair', input: '\udc00\ud800' },
    { name: 'NUL bytes', input: 'a\u0000b\u0000' },
    { name: '10000 combining marks', input: `e${'\u0301'.repeat(10_000)}` },
    { name: 'RTL and bidi overrides', input: '\u202e\u2066cat\u2069 \u05d0\u05d1' },
    { name: 'special token text', input: '<|startoftext|><|endoftext|><|endoftext|>' },
    { name: 'emoji ZWJ flood', input: '👩‍👩‍👧‍👦'.repeat(2000) },
    { name: 'BOM and zero-width', input: '\ufeff\u200b\u200c\u200d cat' },
    { name: 'CJK', input: '一只猫坐在垫子上'.repeat(100) },
  ];
}
