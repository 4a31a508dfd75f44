/**
 * CLIPImageProcessor's rescale + normalize, HWC uint8 → CHW float32, with the reference's float32 rounding steps.
 *
 * Reference: transformers image_transforms.py `rescale` (`image.astype(np.float64) * scale`, then `.astype(float32)`)
 * and `normalize` (mean/std cast to the image's dtype float32, then `(image - mean) / std` in float32), called by
 * CLIPImageProcessor.preprocess with `input_data_format` HWC and `data_format` CHW. Every `Math.fround` below is
 * one numpy float32 rounding; the goldens' `*.f32` are matched exactly this way (see normalize.test.ts).
 */
import { FgClipError } from '../errors.js';
import { assertRgbImage, type RgbImage } from './types.js';

/** preprocessor_config.json `rescale_factor` of every CLIP checkpoint: 1/255 as a float64. */
export const DEFAULT_RESCALE_FACTOR = 1 / 255;

export interface NormalizeConfig {
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** default 1/255 */
  readonly rescaleFactor?: number;
}

function checkTriple(v: readonly number[] | undefined, name: string, nonZero: boolean): void {
  const ok = Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!nonZero || x !== 0));
  if (!ok) {
    throw new FgClipError(
      'INPUT_INVALID',
      `toPixelValues: bad ${name} (expected 3 finite numbers${nonZero ? ', none zero' : ''}, got ${JSON.stringify(v)}). ` +
        `Use preprocessor_config.json image_${name}.`,
    );
  }
}

/** `(x * rescale - mean[c]) / std[c]` per channel, as float32 CHW: [3, H, W]. */
export function toPixelValues(img: RgbImage, cfg: NormalizeConfig): Float32Array {
  if (cfg === null || typeof cfg !== 'object') {
    throw new FgClipError('INPUT_INVALID', `toPixelValues: missing config (expected { mean, std, rescaleFactor? }, got ${cfg}).`);
  }
  checkTriple(cfg.mean, 'mean', false);
  checkTriple(cfg.std, 'std', true);
  const rescale = cfg.rescaleFactor ?? DEFAULT_RESCALE_FACTOR;
  if (typeof rescale !== 'number' || !Number.isFinite(rescale)) {
    throw new FgClipError('INPUT_INVALID', `toPixelValues: bad rescaleFactor (expected a finite number, got ${rescale}).`);
  }
  assertRgbImage(img, 'toPixelValues');
  const { width: W, height: H, data } = img;
  const plane = W * H;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean32 = Math.fround(cfg.mean[c]);
    const std32 = Math.fround(cfg.std[c]);
    // Only 256 distinct inputs per channel: tabulate the exact float32 chain once.
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      const x32 = Math.fround(v * rescale);
      lut[v] = Math.fround(x32 - mean32) / std32;
    }
    const o = c * plane;
    for (let p = 0; p < plane; p++) out[o + p] = lut[data[p * 3 + c]];
  }
  return out;
}

/**
 * Stacks per-image CHW pixel values into one [B, 3, S, S] buffer (the order of `list`).
 */
export function batchPixelValues(list: readonly Float32Array[], size: number): Float32Array {
  if (!Number.isInteger(size) || size <= 0) {
    throw new FgClipError('INPUT_INVALID', `batchPixelValues: bad size (expected a positive integer, got ${size}).`);
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new FgClipError('INPUT_INVALID', 'batchPixelValues: empty batch (expected at least one image).');
  }
  const per = 3 * size * size;
  const out = new Float32Array(list.length * per);
  list.forEach((px, i) => {
    if (!(px instanceof Float32Array) || px.length !== per) {
      throw new FgClipError(
        'INPUT_INVALID',
        `batchPixelValues: image ${i} has the wrong length (expected 3*${size}*${size} = ${per} floats, ` +
          `got ${px instanceof Float32Array ? px.length : typeof px}). Preprocess every image at the same size.`,
      );
    }
    out.set(px, i * per);
  });
  return out;
}
