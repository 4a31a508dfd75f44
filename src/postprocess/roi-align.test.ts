/** RoIAlign 1×1 (aligned, adaptive sampling) properties from torchvision's kernel, exact to 1e-12. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roiAlign1x1 } from './roi-align.js';

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
