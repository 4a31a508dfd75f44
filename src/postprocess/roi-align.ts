/**
 * RoIAlign with a 1×1 output, `aligned=True`, `sampling_ratio=-1` (adaptive), `spatial_scale=1`, as
 * torchvision's CPU kernel computes it (roi_align_kernel.cpp: pre_calc_for_bilinear_interpolate and
 * roi_align_forward_kernel_impl), which is what fgclip.py:155-194 calls on the dense feature map.
 * Boxes are in feature-grid cell units (0 … gridW, 0 … gridH).
 */

/** Box in grid units: [x1, y1, x2, y2]. */
export type GridBox = readonly [number, number, number, number];

/**
 * `features` is the dense map of one image, token-major [gridH*gridW, C] (row-major cells), exactly as
 * `dense_embeds` comes out of the graph. Returns one C-vector per box.
 */
export function roiAlign1x1(features: Float32Array, gridH: number, gridW: number, C: number, boxes: readonly GridBox[]): Float32Array[] {
  return boxes.map((b) => roiOne(features, gridH, gridW, C, b));
}

function roiOne(feat: Float32Array, H: number, W: number, C: number, box: GridBox): Float32Array {
  // aligned=True: shift by half a cell, and no clamping of the roi size to ≥ 1
  const sx = box[0] - 0.5;
  const sy = box[1] - 0.5;
  const rw = box[2] - 0.5 - sx;
  const rh = box[3] - 0.5 - sy;
  // adaptive sampling grid: ceil(roi / output) with output 1×1
  const gw = Math.ceil(rw);
  const gh = Math.ceil(rh);
  const count = Math.max(gw * gh, 1);
  const out = new Float64Array(C);
  for (let iy = 0; iy < gh; iy++) {
    const yy = sy + ((iy + 0.5) * rh) / gh;
    for (let ix = 0; ix < gw; ix++) {
      const xx = sx + ((ix + 0.5) * rw) / gw;
      if (yy < -1 || yy > H || xx < -1 || xx > W) continue; // outside: contributes 0
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
      const w1 = hy * hx;
      const w2 = hy * lx;
      const w3 = ly * hx;
      const w4 = ly * lx;
      const r1 = (y0 * W + x0) * C;
      const r2 = (y0 * W + x1) * C;
      const r3 = (y1 * W + x0) * C;
      const r4 = (y1 * W + x1) * C;
      for (let c = 0; c < C; c++) out[c] += w1 * feat[r1 + c] + w2 * feat[r2 + c] + w3 * feat[r3 + c] + w4 * feat[r4 + c];
    }
  }
  const res = new Float32Array(C);
  for (let c = 0; c < C; c++) res[c] = out[c] / count;
  return res;
}
