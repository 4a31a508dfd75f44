/**
 * A folder of deterministic "real-size" JPEGs (1024×768, quality 90) for the end-to-end figure: smooth gradients,
 * a few solid shapes and per-pixel noise, so the files have photo-like sizes (a few hundred KB) and the decoder
 * does real work. Cached beside the synthetic checkpoints.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from './synthetic.js';

export const IMAGES_VERSION = 'v1';
export const E2E_WIDTH = 1024;
export const E2E_HEIGHT = 768;

function render(i: number, W: number, H: number): Buffer {
  const rng = new Rng(1000 + i);
  const px = Buffer.alloc(W * H * 3);
  // per image: gradient directions and colours, 3 rectangles and 3 discs
  const base = [rng.nextU32() % 256, rng.nextU32() % 256, rng.nextU32() % 256];
  const gx = [0, 1, 2].map(() => (rng.nextU32() % 200) - 100);
  const gy = [0, 1, 2].map(() => (rng.nextU32() % 200) - 100);
  const shapes = Array.from({ length: 6 }, (_, k) => ({
    disc: k >= 3,
    x: rng.nextU32() % W,
    y: rng.nextU32() % H,
    r: 40 + (rng.nextU32() % 160),
    c: [rng.nextU32() % 256, rng.nextU32() % 256, rng.nextU32() % 256],
  }));
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let col: number[] | undefined;
      for (const s of shapes) {
        const dx = x - s.x;
        const dy = y - s.y;
        if (s.disc ? dx * dx + dy * dy < s.r * s.r : Math.abs(dx) < s.r && Math.abs(dy) < s.r * 0.6) col = s.c;
      }
      const o = (y * W + x) * 3;
      const noise = (rng.nextU32() % 41) - 20;
      for (let c = 0; c < 3; c++) {
        const v = (col ? col[c] : base[c] + (gx[c] * x) / W + (gy[c] * y) / H) + noise;
        px[o + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return px;
}

/** Paths of `n` cached JPEGs (generated on first use; the same bytes on every machine with the same libjpeg). */
export async function ensureJpegs(root: string, n: number): Promise<string[]> {
  const dir = join(root, `images-${IMAGES_VERSION}-${E2E_WIDTH}x${E2E_HEIGHT}`);
  const names = Array.from({ length: n }, (_, i) => `img-${String(i).padStart(3, '0')}.jpg`);
  const have = existsSync(dir) ? new Set(readdirSync(dir)) : new Set<string>();
  if (names.every((f) => have.has(f))) return names.map((f) => join(dir, f));
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    if (have.has(names[i])) continue;
    const tmp = join(dir, `${names[i]}.tmp-${process.pid}`);
    await sharp(render(i, E2E_WIDTH, E2E_HEIGHT), { raw: { width: E2E_WIDTH, height: E2E_HEIGHT, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(tmp);
    rmSync(join(dir, names[i]), { force: true });
    renameSync(tmp, join(dir, names[i]));
  }
  return names.map((f) => join(dir, f));
}
