/** Small deterministic fixtures and float64 helpers shared by tests. */
import sharp from 'sharp';

/** Writes a w×h PNG of seeded pseudo-random RGB noise. */
export async function writePng(path: string, w: number, h: number, seed: number): Promise<void> {
  const data = Buffer.alloc(w * h * 3);
  let x = seed * 2654435761;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = (x >>> 16) & 255;
  }
  await sharp(data, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(path);
}

/** L2-normalized copy in float64. */
export const unit = (v: ArrayLike<number>): number[] => {
  const n = Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
  return Array.from(v, (x) => x / n);
};

export const dot64 = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);
