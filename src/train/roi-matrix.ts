/**
 * RoIAlign (1×1 output, aligned, adaptive sampling, spatial_scale 1) is linear in the feature map:
 * region[k] = Σ_cells weight[k, cell] · dense[cell]. The training graph multiplies this per-batch constant matrix
 * [K, b·g²] with the flattened dense map, so the gradient is the exact transpose (fgclip.py:155-194;
 * _denormalize_boxes: normalized [0,1] boxes times the grid size). The weights are the library's own RoIAlign
 * (postprocess/roi-align.ts, torchvision's sampling) applied to the identity map: channel c of cell j is δ(c, j).
 */
import { roiAlign1x1 } from '../postprocess/roi-align.js';
import type { NormalizedBox } from './types.js';

const identities = new Map<number, Float32Array>();
function identityMap(cells: number): Float32Array {
  let m = identities.get(cells);
  if (!m) {
    m = new Float32Array(cells * cells);
    for (let j = 0; j < cells; j++) m[j * cells + j] = 1;
    identities.set(cells, m);
  }
  return m;
}

/** The [K, images·g²] matrix for boxes given per image (normalized [0,1] xyxy), rows in image order then box order. */
export function roiMatrix(boxesPerImage: readonly (readonly NormalizedBox[])[], grid: number): { data: Float32Array; rows: number; cols: number } {
  const N = grid * grid;
  const rows = boxesPerImage.reduce((a, b) => a + b.length, 0);
  const cols = boxesPerImage.length * N;
  const data = new Float32Array(rows * cols);
  const eye = identityMap(N);
  let k = 0;
  boxesPerImage.forEach((boxes, b) => {
    const weights = roiAlign1x1(
      eye,
      grid,
      grid,
      N,
      boxes.map((x) => [x[0] * grid, x[1] * grid, x[2] * grid, x[3] * grid] as const),
    );
    for (const w of weights) data.set(w, k++ * cols + b * N);
  });
  return { data, rows, cols };
}
