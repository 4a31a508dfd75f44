/**
 * RoIAlign with a 1×1 output, `aligned=True`, `sampling_ratio=-1` (adaptive), `spatial_scale=1`, as
 * torchvision's CPU kernel computes it (roi_align_kernel.cpp: pre_calc_for_bilinear_interpolate and
 * roi_align_forward_kernel_impl), which is what fgclip.py:155-194 calls on the dense feature map.
 * Boxes are in feature-grid cell units (0 … gridW, 0 … gridH).
 *
 * Bounded work for any box. The kernel takes gw = ceil(roi_w) × gh = ceil(roi_h) samples and divides their sum by
 * gw·gh, so a box of 1e9 cells would mean 1e18 samples. Two facts make the same sum cheap:
 * - every sample's bilinear weights are a product of an x part and a y part, and a sample is dropped (weight 0)
 *   exactly when its x or its y is outside [-1, W] / [-1, H]; so the sum is Σ_cells Ay[y]·Ax[x]·feat[y, x], with Ax
 *   (Ay) the summed x (y) weights of the samples of one axis;
 * - sample positions grow with their index, so the samples that are not dropped form one index range per axis,
 *   found directly; at most about 2·(W+1)+2 samples lie in [-1, W] since consecutive samples are ≥ 0.5 apart.
 * Work is O(W + H + cells touched · C) whatever the box; the divisor stays the full gw·gh. Every kept sample's
 * position and weights are computed with the same float64 expressions as the sample-by-sample loop (kept in the
 * tests as the reference), so only the order of the float64 additions differs.
 * Where torchvision's `int` sample counts would overflow (gw·gh ≥ 2^31) its kernel has no defined result; there we
 * return the same formula's value with the count taken as the real product gw·gh. Coordinates must be finite and
 * at most MAX_GRID_COORD in magnitude (beyond 2^52 sample indices are no longer exact integers): BOX_INVALID.
 */
import { FgClipError } from '../errors.js';

/** Box in grid units: [x1, y1, x2, y2]. */
export type GridBox = readonly [number, number, number, number];

/** Largest |coordinate| in grid units: sample indices stay exact float64 integers below 2^52. */
export const MAX_GRID_COORD = 2 ** 50;

/** Per-axis sample weights: `w[k]` is the summed weight of cell `lo + k`. */
export interface AxisWeights {
  readonly lo: number;
  readonly w: Float64Array;
  /** number of samples the kernel takes on this axis (ceil of the roi extent; ≤ 0 means none) */
  readonly samples: number;
  /** how many samples were visited (the kept index range), for tests that bound the work */
  readonly visited: number;
}

/**
 * `features` is the dense map of one image, token-major [gridH*gridW, C] (row-major cells), exactly as
 * `dense_embeds` comes out of the graph. Returns one C-vector per box.
 */
export function roiAlign1x1(features: Float32Array, gridH: number, gridW: number, C: number, boxes: readonly GridBox[]): Float32Array[] {
  return boxes.map((b) => roiOne(features, gridH, gridW, C, b));
}

function checkBox(box: GridBox): void {
  if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_GRID_COORD)) {
    throw new FgClipError(
      'BOX_INVALID',
      `RoIAlign: a grid box is four finite numbers of magnitude at most ${MAX_GRID_COORD} (got ${JSON.stringify(box)}). The box is far larger than the image.`,
    );
  }
}

/**
 * The x (or y) weights of one axis: `start` = box start − 0.5, `extent` = roi size along the axis, `size` = W (or H).
 * Same expressions as the kernel: position = start + ((i + 0.5)·extent)/n, dropped outside [-1, size], clamped to
 * [0, size − 1], split between floor and floor + 1 by the fractional part.
 */
export function axisWeights(start: number, extent: number, size: number): AxisWeights {
  const n = Math.ceil(extent);
  const pos = (i: number) => start + ((i + 0.5) * extent) / n;
  if (!(n > 0)) return { lo: 0, w: new Float64Array(0), samples: n, visited: 0 };
  // first index whose position is ≥ -1 and last whose position is ≤ size (positions are non-decreasing in i)
  let first = Math.min(n, Math.max(0, Math.ceil(((-1 - start) * n) / extent - 0.5)));
  while (first > 0 && pos(first - 1) >= -1) first--;
  while (first < n && pos(first) < -1) first++;
  let last = Math.max(-1, Math.min(n - 1, Math.floor(((size - start) * n) / extent - 0.5)));
  while (last < n - 1 && pos(last + 1) <= size) last++;
  while (last >= 0 && pos(last) > size) last--;
  if (last < first) return { lo: 0, w: new Float64Array(0), samples: n, visited: 0 };
  const w = new Float64Array(size);
  let lo = size;
  let hi = -1;
  for (let i = first; i <= last; i++) {
    let p = Math.max(pos(i), 0);
    let p0 = Math.floor(p);
    let p1: number;
    if (p0 >= size - 1) {
      p0 = p1 = size - 1;
      p = p0;
    } else p1 = p0 + 1;
    const l = p - p0;
    w[p0] += 1 - l;
    w[p1] += l;
    lo = Math.min(lo, p0);
    hi = Math.max(hi, p1);
  }
  return { lo, w: w.slice(lo, hi + 1), samples: n, visited: last - first + 1 };
}

function roiOne(feat: Float32Array, H: number, W: number, C: number, box: GridBox): Float32Array {
  checkBox(box);
  // aligned=True: shift by half a cell, and no clamping of the roi size to ≥ 1
  const sx = box[0] - 0.5;
  const sy = box[1] - 0.5;
  const ax = axisWeights(sx, box[2] - 0.5 - sx, W);
  const ay = axisWeights(sy, box[3] - 0.5 - sy, H);
  // adaptive sampling grid: ceil(roi / output) with output 1×1; the kernel divides by max(gw·gh, 1)
  const count = Math.max(ax.samples * ay.samples, 1);
  const out = new Float64Array(C);
  if (ax.samples > 0 && ay.samples > 0) {
    for (let j = 0; j < ay.w.length; j++) {
      const wy = ay.w[j];
      if (wy === 0) continue;
      for (let k = 0; k < ax.w.length; k++) {
        const wxy = wy * ax.w[k];
        if (wxy === 0) continue;
        const r = ((ay.lo + j) * W + ax.lo + k) * C;
        for (let c = 0; c < C; c++) out[c] += wxy * feat[r + c];
      }
    }
  }
  const res = new Float32Array(C);
  for (let c = 0; c < C; c++) res[c] = out[c] / count;
  return res;
}
