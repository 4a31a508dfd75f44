/**
 * RoIAlign (1×1 output, aligned, adaptive sampling, spatial_scale 1) as torchvision computes it, written as the
 * linear map it is: region[k] = Σ_cells weight[k, cell] · dense[cell]. The training graph multiplies this per-batch
 * constant matrix [K, b·g²] with the flattened dense map, so the gradient is the exact transpose (fgclip.py:155-194,
 * _denormalize_boxes: normalized [0,1] boxes times the grid size). Same sampling as postprocess/roi-align.ts.
 */
import type { NormalizedBox } from './types.js';

/** Adds the RoIAlign weights of one grid-unit box over an H×W map into `row` (length H·W) starting at `offset`. */
export function addRoiWeights(row: Float64Array, offset: number, H: number, W: number, box: readonly [number, number, number, number]): void {
  const sx = box[0] - 0.5;
  const sy = box[1] - 0.5;
  const rw = box[2] - 0.5 - sx;
  const rh = box[3] - 0.5 - sy;
  const gw = Math.ceil(rw);
  const gh = Math.ceil(rh);
  const count = Math.max(gw * gh, 1);
  for (let iy = 0; iy < gh; iy++) {
    const yy = sy + ((iy + 0.5) * rh) / gh;
    for (let ix = 0; ix < gw; ix++) {
      const xx = sx + ((ix + 0.5) * rw) / gw;
      if (yy < -1 || yy > H || xx < -1 || xx > W) continue;
      let y = Math.max(yy, 0);
      let x = Math.max(xx, 0);
      let y0 = Math.floor(y);
      let x0 = Math.floor(x);
      let y1: number;
      let x1: number;
      if (y0 >= H - 1) {
        y0 = y1 = H - 1;
        y = y0;
      } else y1 = y0 + 1;
      if (x0 >= W - 1) {
        x0 = x1 = W - 1;
        x = x0;
      } else x1 = x0 + 1;
      const ly = y - y0;
      const lx = x - x0;
      const hy = 1 - ly;
      const hx = 1 - lx;
      row[offset + y0 * W + x0] += (hy * hx) / count;
      row[offset + y0 * W + x1] += (hy * lx) / count;
      row[offset + y1 * W + x0] += (ly * hx) / count;
      row[offset + y1 * W + x1] += (ly * lx) / count;
    }
  }
}

/**
 * The [K, images·g²] matrix for boxes given per image of a chunk (normalized [0,1] xyxy), rows in image order then
 * box order.
 */
export function roiMatrix(boxesPerImage: readonly (readonly NormalizedBox[])[], grid: number): { data: Float64Array; rows: number; cols: number } {
  const N = grid * grid;
  const rows = boxesPerImage.reduce((a, b) => a + b.length, 0);
  const cols = boxesPerImage.length * N;
  const data = new Float64Array(rows * cols);
  let k = 0;
  boxesPerImage.forEach((boxes, b) => {
    for (const box of boxes) {
      const row = data.subarray(k * cols, (k + 1) * cols);
      addRoiWeights(row, b * N, grid, grid, [box[0] * grid, box[1] * grid, box[2] * grid, box[3] * grid]);
      k++;
    }
  });
  return { data, rows, cols };
}
