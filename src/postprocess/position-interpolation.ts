/**
 * Vision position embeddings for another input resolution: `interpolate_pos_encoding` of modeling_clip.py:217-248.
 * The CLS row is kept; the g0×g0 patch rows are resized with PyTorch's
 * `F.interpolate(mode='bicubic', align_corners=False)` (cubic convolution A = −0.75, source coordinate
 * (i + 0.5)·in/out − 0.5 not clamped, tap indices clamped to the border, no antialias) to gh×gw, then flattened
 * row-major. Computed in float64 and rounded once.
 */
const A = -0.75;

function cubicWeights(t: number): [number, number, number, number] {
  // upsample_bicubic2d's get_cubic_upsample_coefficients
  const c1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| ≤ 1
  const c2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2
  return [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)];
}

interface AxisTaps {
  idx: Int32Array; // [out, 4]
  w: Float64Array; // [out, 4]
}

function axisTaps(inSize: number, outSize: number): AxisTaps {
  const idx = new Int32Array(outSize * 4);
  const w = new Float64Array(outSize * 4);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = (i + 0.5) * scale - 0.5;
    const f = Math.floor(src);
    const ws = cubicWeights(src - f);
    for (let k = 0; k < 4; k++) {
      idx[i * 4 + k] = Math.min(Math.max(f - 1 + k, 0), inSize - 1);
      w[i * 4 + k] = ws[k];
    }
  }
  return { idx, w };
}

/**
 * `table` is [(g0*g0)+1, D] (CLS first). Returns [(gh*gw)+1, D]. When the grid is unchanged the table is returned
 * as is (the reference's early exit).
 */
export function interpolatePositionEmbedding(table: Float32Array, D: number, gh: number, gw: number): Float32Array {
  const n0 = table.length / D - 1;
  const g0 = Math.round(Math.sqrt(n0));
  if (g0 * g0 !== n0) throw new Error(`position table has ${n0} patch rows, not a square grid`);
  if (gh === g0 && gw === g0) return table;
  const ty = axisTaps(g0, gh);
  const tx = axisTaps(g0, gw);
  const out = new Float32Array((gh * gw + 1) * D);
  out.set(table.subarray(0, D));
  const acc = new Float64Array(D);
  for (let oy = 0; oy < gh; oy++) {
    for (let ox = 0; ox < gw; ox++) {
      acc.fill(0);
      for (let ky = 0; ky < 4; ky++) {
        const iy = ty.idx[oy * 4 + ky];
        const wy = ty.w[oy * 4 + ky];
        for (let kx = 0; kx < 4; kx++) {
          const wgt = wy * tx.w[ox * 4 + kx];
          const row = (1 + iy * g0 + tx.idx[ox * 4 + kx]) * D;
          for (let d = 0; d < D; d++) acc[d] += wgt * table[row + d];
        }
      }
      out.set(acc, (1 + oy * gw + ox) * D);
    }
  }
  return out;
}
