import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roiAlign1x1 } from '../postprocess/roi-align.js';
import { roiMatrix } from './roi-matrix.js';
import type { NormalizedBox } from './types.js';

test('RoIAlign as a matrix times the flattened maps equals the direct RoIAlign per image (max abs diff 1e-6)', () => {
  const g = 5;
  const C = 3;
  const feats = [0, 1].map((s) => Float32Array.from({ length: g * g * C }, (_, i) => Math.sin(i * 0.37 + s)));
  const boxes: NormalizedBox[][] = [
    [
      [0, 0, 1, 1],
      [0.1, 0.2, 0.55, 0.9],
      [0.95, 0.95, 1, 1],
    ],
    [
      [0.3, 0.3, 0.3, 0.8],
      [0.02, 0.5, 0.7, 0.51],
    ],
  ];
  const m = roiMatrix(boxes, g);
  assert.equal(m.rows, 5);
  assert.equal(m.cols, 2 * g * g);
  let k = 0;
  boxes.forEach((bs, b) => {
    const direct = roiAlign1x1(
      feats[b],
      g,
      g,
      C,
      bs.map((x) => [x[0] * g, x[1] * g, x[2] * g, x[3] * g] as const),
    );
    for (const d of direct) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let j = 0; j < m.cols; j++) {
          const img = Math.floor(j / (g * g));
          s += m.data[k * m.cols + j] * feats[img][(j % (g * g)) * C + c];
        }
        assert.ok(Math.abs(s - d[c]) <= 1e-6, `box ${k} channel ${c}: ${s} vs ${d[c]}`);
      }
      k++;
    }
  });
});
