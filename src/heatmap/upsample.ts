/**
 * Bilinear resize of a row-major grid with PyTorch's `F.interpolate(mode='bilinear', align_corners=False)`
 * semantics: output pixel centre d maps to source coordinate s = (d + 0.5)·in/out − 0.5, negative s clamped
 * to 0 (ATen `area_pixel_compute_source_index`), neighbours clamped to the last row/column. No antialiasing.
 */
import { FgClipError } from '../errors.js';

function checkDim(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new FgClipError('INPUT_INVALID', `upsampleBilinear: ${name} must be a positive integer (got ${String(v)}).`);
  }
}

/** Per output index: lower source index, upper source index, weight of the upper one. */
function axisTaps(inSize: number, outSize: number): { lo: Int32Array; hi: Int32Array; w: Float64Array } {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const w = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    const s = Math.max(0, (d + 0.5) * scale - 0.5);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    lo[d] = i0;
    hi[d] = Math.min(i0 + 1, inSize - 1);
    w[d] = s - i0;
  }
  return { lo, hi, w };
}

/** grid [gridH·gridW] row-major → [outH·outW] row-major. */
export function upsampleBilinear(grid: ArrayLike<number>, gridH: number, gridW: number, outH: number, outW: number): Float32Array {
  checkDim('gridH', gridH);
  checkDim('gridW', gridW);
  checkDim('outH', outH);
  checkDim('outW', outW);
  if (grid.length !== gridH * gridW) {
    throw new FgClipError(
      'INPUT_INVALID',
      `upsampleBilinear: grid length does not match gridH·gridW (expected ${gridH}·${gridW} = ${gridH * gridW}, got ${grid.length}).`,
    );
  }
  const ys = axisTaps(gridH, outH);
  const xs = axisTaps(gridW, outW);
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const r0 = ys.lo[y] * gridW;
    const r1 = ys.hi[y] * gridW;
    const wy = ys.w[y];
    for (let x = 0; x < outW; x++) {
      const x0 = xs.lo[x];
      const x1 = xs.hi[x];
      const wx = xs.w[x];
      const top = grid[r0 + x0] + (grid[r0 + x1] - grid[r0 + x0]) * wx;
      const bottom = grid[r1 + x0] + (grid[r1 + x1] - grid[r1 + x0]) * wx;
      out[y * outW + x] = top + (bottom - top) * wy;
    }
  }
  return out;
}
