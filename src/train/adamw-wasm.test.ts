/**
 * The SIMD AdamW kernel (adamw-wasm.ts) against its source and against the scalar loop (optimizer.ts):
 * - the committed module is exactly what wabt compiles src/train/adamw.wat to;
 * - it loads on this Node (so AdamW takes the fast path here);
 * - bit-identical to the scalar loop (every value of p, m and v, tolerance 0) over several steps, on lengths that
 *   cross the 2^18-value chunks and leave a tail of 1–3 values, with zeros, −0, subnormals, huge and tiny values,
 *   and with and without weight decay; a NaN gradient gives NaN in both.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import wabtInit from 'wabt';
import { ADAMW_WASM_BASE64, ADAMW_WASM_CHUNK, wasmAdamW } from './adamw-wasm.js';
import { scalarAdamW } from './optimizer.js';

test('the committed module is adamw.wat compiled by wabt (byte for byte)', async () => {
  const wabt = await wabtInit();
  const source = readFileSync(new URL('./adamw.wat', import.meta.url), 'utf8');
  const mod = wabt.parseWat('adamw.wat', source, { simd: true });
  try {
    const { buffer } = mod.toBinary({});
    assert.equal(Buffer.from(buffer).toString('base64'), ADAMW_WASM_BASE64, 'rebuild: paste the new base64 of adamw.wat into adamw-wasm.ts');
  } finally {
    mod.destroy();
  }
});

/** seeded values of many magnitudes, with exact zeros, −0 and subnormals sprinkled in */
function values(n: number, seed: number, scale: number, positive = false): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 4294967296;
    const k = i % 97;
    let x = (u - 0.5) * scale * 10 ** ((i % 13) - 6);
    if (k === 0) x = 0;
    else if (k === 1) x = -0;
    else if (k === 2)
      x = 1e-42 * (u + 0.1); // subnormal
    else if (k === 3) x = 3e38 * (u - 0.5);
    out[i] = positive ? Math.abs(x) : x;
  }
  return out;
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] === ub[i] || (Number.isNaN(a[i]) && Number.isNaN(b[i]))) continue;
    assert.fail(`${what}[${i}]: ${a[i]} (0x${ua[i].toString(16)}) vs ${b[i]} (0x${ub[i].toString(16)})`);
  }
}

test('the SIMD kernel loads here and equals the scalar loop bit for bit (p, m, v over 3 steps; tolerance 0)', () => {
  const wasm = wasmAdamW();
  assert.ok(wasm, 'WebAssembly SIMD is available on Node 20: the fast path must load');
  const f = Math.fround;
  for (const n of [0, 1, 3, 4, 7, ADAMW_WASM_CHUNK - 1, ADAMW_WASM_CHUNK + 5, 2 * ADAMW_WASM_CHUNK + 3]) {
    for (const decay of [1, f(1 - 1e-3 * 0.01)]) {
      const p0 = values(n, 1 + n, 2);
      const a = { p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) };
      const b = { p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) };
      for (let t = 1; t <= 3; t++) {
        const g = values(n, 100 * t + n, 0.02);
        const lr = 1e-3 * t;
        const scalars = [decay, f(1 - 0.9), f(0.999), f(1 - 0.999), f(Math.sqrt(1 - 0.999 ** t)), f(1e-8), f(-lr / (1 - 0.9 ** t))] as const;
        scalarAdamW(a.p, g, a.m, a.v, ...scalars);
        wasm(b.p, g, b.m, b.v, ...scalars);
        for (const k of ['p', 'm', 'v'] as const) sameBits(a[k], b[k], `n=${n} decay=${decay} step ${t} ${k}`);
      }
    }
  }
  // a NaN gradient poisons that value in both, and only that value
  const g = new Float32Array([0.1, Number.NaN, -0.2, 0.3, 0.5]);
  const a = { p: new Float32Array(5).fill(1), m: new Float32Array(5), v: new Float32Array(5) };
  const b = { p: new Float32Array(5).fill(1), m: new Float32Array(5), v: new Float32Array(5) };
  const scalars = [1, f(0.1), f(0.999), f(0.001), f(Math.sqrt(0.001)), f(1e-8), f(-0.01)] as const;
  scalarAdamW(a.p, g, a.m, a.v, ...scalars);
  wasm(b.p, g, b.m, b.v, ...scalars);
  for (const k of ['p', 'm', 'v'] as const) sameBits(a[k], b[k], `NaN case ${k}`);
  assert.deepEqual(
    [...b.p].map((x) => Number.isNaN(x)),
    [false, true, false, false, false],
  );
});
