/** RoIAlign 1×1 (aligned, adaptive sampling) properties from torchvision's kernel, exact to 1e-12. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FgClipError } from '../errors.js';
import { rng } from '../test-util/hostile/corpus.js';
import { axisWeights, MAX_GRID_COORD, roiAlign1x1 } from './roi-align.js';

const H = 4;
const W = 5;
const C = 3;
const feat = Float32Array.from({ length: H * W * C }, (_, i) => Math.sin(i * 0.7) * 3);
const cell = (y: number, x: number, c: number) => feat[(y * W + x) * C + c];

test('the full-grid box samples every cell centre once: the plain mean of all cells (1e-6)', () => {
  const [r] = roiAlign1x1(feat, H, W, C, [[0, 0, W, H]]);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) s += cell(y, x, c);
    assert.ok(Math.abs(r[c] - s / (H * W)) < 1e-6);
  }
});

test('a one-cell box returns that cell exactly', () => {
  const [r] = roiAlign1x1(feat, H, W, C, [[2, 1, 3, 2]]);
  for (let c = 0; c < C; c++) assert.ok(Math.abs(r[c] - cell(1, 2, c)) < 1e-6);
});

test('a degenerate box (zero width) gives the zero vector, as torchvision does', () => {
  const [r] = roiAlign1x1(feat, H, W, C, [[1, 1, 1, 3]]);
  assert.deepEqual(Array.from(r), [0, 0, 0]);
});

test('samples beyond the border are clamped to the last cell; samples past -1 or H/W contribute zero', () => {
  // box from x=4 to x=6 (2 samples at x=4.0 and 5.0 after the -0.5 shift): both read column 4
  const [r] = roiAlign1x1(feat, H, W, C, [[4, 0, 6, 1]]);
  for (let c = 0; c < C; c++) assert.ok(Math.abs(r[c] - cell(0, 4, c)) < 1e-6);
  // box far outside: every sample is dropped, but the count stays, so the result is zero
  const [z] = roiAlign1x1(feat, H, W, C, [[10, 10, 12, 12]]);
  assert.deepEqual(Array.from(z), [0, 0, 0]);
});

// ---- bounded work for any box, same result as the sample-by-sample kernel ----

/** The kernel sample by sample (torchvision roi_align_forward_kernel_impl for a 1×1 output), float64. */
function bruteForce(f: Float32Array, h: number, w: number, c: number, box: readonly number[]): Float64Array {
  const sx = box[0] - 0.5;
  const sy = box[1] - 0.5;
  const rw = box[2] - 0.5 - sx;
  const rh = box[3] - 0.5 - sy;
  const gw = Math.ceil(rw);
  const gh = Math.ceil(rh);
  const count = Math.max(gw * gh, 1);
  const out = new Float64Array(c);
  for (let iy = 0; iy < gh; iy++) {
    const yy = sy + ((iy + 0.5) * rh) / gh;
    for (let ix = 0; ix < gw; ix++) {
      const xx = sx + ((ix + 0.5) * rw) / gw;
      if (yy < -1 || yy > h || xx < -1 || xx > w) continue;
      let y = Math.max(yy, 0);
      let x = Math.max(xx, 0);
      let y0 = Math.floor(y);
      let x0 = Math.floor(x);
      let y1: number;
      let x1: number;
      if (y0 >= h - 1) {
        y0 = y1 = h - 1;
        y = y0;
      } else y1 = y0 + 1;
      if (x0 >= w - 1) {
        x0 = x1 = w - 1;
        x = x0;
      } else x1 = x0 + 1;
      const ly = y - y0;
      const lx = x - x0;
      for (let k = 0; k < c; k++) {
        out[k] +=
          (1 - ly) * (1 - lx) * f[(y0 * w + x0) * c + k] +
          (1 - ly) * lx * f[(y0 * w + x1) * c + k] +
          ly * (1 - lx) * f[(y1 * w + x0) * c + k] +
          ly * lx * f[(y1 * w + x1) * c + k];
      }
    }
  }
  for (let k = 0; k < c; k++) out[k] /= count;
  return out;
}

test('600 random boxes (inside, straddling, outside, inverted, sub-cell, up to 60 cells) equal the sample-by-sample kernel (float64 sums agree to 1e-12, so the float32 results to 1 ulp)', () => {
  const r = rng(7);
  const h = 7;
  const w = 9;
  const c = 4;
  const f = Float32Array.from({ length: h * w * c }, () => r() * 4 - 2);
  const coord = (span: number) => (r() < 0.2 ? Math.round(r() * span * 2 - span / 2) : r() * span * 2 - span / 2);
  for (let n = 0; n < 600; n++) {
    const x1 = coord(30);
    const y1 = coord(30);
    const box = [x1, y1, x1 + (r() < 0.1 ? -r() * 3 : r() * 60), y1 + (r() < 0.1 ? -r() * 3 : r() * 60)] as const;
    const ref = bruteForce(f, h, w, c, box);
    const [got] = roiAlign1x1(f, h, w, c, [box]);
    for (let k = 0; k < c; k++) {
      assert.ok(Math.abs(got[k] - ref[k]) <= 1e-12 + 2 ** -23 * Math.abs(ref[k]), `box ${box}: channel ${k}: ${got[k]} vs ${ref[k]}`);
    }
  }
});

test('per-axis weights equal the 1-D sample enumeration for extents up to 2e5 samples (1e-9), and visit at most 2(W+1)+2 samples', () => {
  const r = rng(11);
  for (let n = 0; n < 300; n++) {
    const size = 1 + Math.floor(r() * 30);
    const extent = r() < 0.5 ? r() * 2e5 : r() * 40;
    const start = r() < 0.5 ? -r() * extent : r() * 40 - 5;
    const got = axisWeights(start, extent, size);
    const ref = new Float64Array(size);
    const m = Math.ceil(extent);
    for (let i = 0; i < m; i++) {
      const p0 = start + ((i + 0.5) * extent) / m;
      if (p0 < -1 || p0 > size) continue;
      let p = Math.max(p0, 0);
      let a = Math.floor(p);
      let b: number;
      if (a >= size - 1) {
        a = b = size - 1;
        p = a;
      } else b = a + 1;
      ref[a] += 1 - (p - a);
      ref[b] += p - a;
    }
    for (let x = 0; x < size; x++) {
      const g = x >= got.lo && x < got.lo + got.w.length ? got.w[x - got.lo] : 0;
      assert.ok(Math.abs(g - ref[x]) <= 1e-9, `start ${start} extent ${extent} size ${size}: cell ${x}: ${g} vs ${ref[x]}`);
    }
    assert.ok(got.visited <= 2 * (size + 1) + 2, `visited ${got.visited} samples for a ${size}-cell axis`);
  }
});

test('a box of 1e9 cells ([0,0,1e9,1e9], 1e18 kernel samples) visits at most 2(W+1)+2 samples per axis and gives the closed form Σ Ay·Ax·f / 1e18', () => {
  const big = 1e9;
  const ax = axisWeights(-0.5, big, W);
  assert.ok(ax.visited <= 2 * (W + 1) + 2, `visited ${ax.visited}`);
  assert.equal(ax.samples, big);
  // samples sit at x = i for i = 0 … W (x ≤ W kept); x = W-1 and x = W both read the last column
  const [got] = roiAlign1x1(feat, H, W, C, [[0, 0, big, big]]);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) s += (y === H - 1 ? 2 : 1) * (x === W - 1 ? 2 : 1) * cell(y, x, c);
    assert.equal(got[c], Math.fround(s / (big * big)));
  }
});

test('absurd finite boxes (1e15 cells, far-negative starts, 2^31-overflowing counts) finish with per-axis work bounded by the grid', () => {
  for (const box of [
    [-1e15, -1e15, 1e15, 1e15],
    [-1e15, 0, 3, 3],
    [0, 0, 2 ** 40, 3],
    [2, 2, 3 + 1e-300, 3],
    [1e15, 1e15, 1e15 + 5, 1e15 + 5],
  ] as const) {
    const ax = axisWeights(box[0] - 0.5, box[2] - box[0], W);
    const ay = axisWeights(box[1] - 0.5, box[3] - box[1], H);
    assert.ok(ax.visited <= 2 * (W + 1) + 2 && ay.visited <= 2 * (H + 1) + 2, `box ${box}: visited ${ax.visited}, ${ay.visited}`);
    const [r] = roiAlign1x1(feat, H, W, C, [box]);
    assert.ok(r.every(Number.isFinite), `box ${box}`);
  }
});

test('non-finite or beyond-2^50 grid coordinates are BOX_INVALID, not a hang', () => {
  for (const box of [
    [NaN, 0, 1, 1],
    [0, 0, Infinity, 1],
    [0, -Infinity, 1, 1],
    [0, 0, MAX_GRID_COORD * 2, 1],
  ]) {
    assert.throws(
      () => roiAlign1x1(feat, H, W, C, [box as unknown as [number, number, number, number]]),
      (e: unknown) => e instanceof FgClipError && e.code === 'BOX_INVALID',
    );
  }
});
