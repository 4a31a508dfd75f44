/**
 * The two ways an RGB image becomes FG-CLIP's `pixel_values` [3, S, S] (docs/model-spec.md §4):
 * - 'squash' (default): model card / eval scripts, `image.resize((S, S))` with PIL bicubic, then CLIPImageProcessor,
 *   whose shortest-edge resize (same size → copy) and center crop are then no-ops.
 * - 'crop': CLIPImageProcessor alone: resize the shortest edge to S (long edge `int(S*long/short)`), center crop.
 * Reference: transformers image_processing_clip.py `resize` (`get_resize_output_image_size`, default_to_square=False)
 * and image_transforms.py `center_crop` (`top = (h - S) // 2`, `left = (w - S) // 2`).
 */
import { assertNever, FgClipError } from '../errors.js';
import { decodeImage, type DecodeOptions } from './decode.js';
import { toPixelValues } from './normalize.js';
import { resizeBicubic } from './resize.js';
import { assertRgbImage, type PreprocessOptions, type RgbImage } from './types.js';

/** transformers `get_resize_output_image_size(image, size=S, default_to_square=False)`: (width, height). */
export function shortestEdgeSize(width: number, height: number, size: number): { width: number; height: number } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  // Python `int(size * long / short)`: float64 division, truncation toward zero.
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? { width: size, height: newLong } : { width: newLong, height: size };
}

/**
 * transformers `center_crop` to size×size for an image at least that large in both dimensions (always the case
 * after `shortestEdgeSize`); smaller images would need the reference's zero padding, which we do not implement.
 */
export function centerCrop(img: RgbImage, size: number): RgbImage {
  assertRgbImage(img, 'centerCrop');
  if (!Number.isInteger(size) || size <= 0) {
    throw new FgClipError('INPUT_INVALID', `centerCrop: bad size (expected a positive integer, got ${size}).`);
  }
  if (img.width < size || img.height < size) {
    throw new FgClipError(
      'INPUT_INVALID',
      `centerCrop: image smaller than the crop (expected at least ${size}x${size}, got ${img.width}x${img.height}). ` +
        `Resize the shortest edge to ${size} first.`,
    );
  }
  const top = Math.floor((img.height - size) / 2);
  const left = Math.floor((img.width - size) / 2);
  const out = new Uint8Array(size * size * 3);
  const row = size * 3;
  for (let y = 0; y < size; y++) {
    const from = ((y + top) * img.width + left) * 3;
    out.set(img.data.subarray(from, from + row), y * row);
  }
  return { width: size, height: size, data: out };
}

/** The S×S uint8 image the processor normalizes, for either mode (before `toPixelValues`). */
export function resizeForModel(img: RgbImage, size: number, mode: PreprocessOptions['mode'] = 'squash'): RgbImage {
  if (!Number.isInteger(size) || size <= 0) {
    throw new FgClipError('INPUT_INVALID', `preprocessImage: bad size (expected a positive integer, got ${size}).`);
  }
  switch (mode) {
    case 'squash':
      return resizeBicubic(img, size, size);
    case 'crop': {
      const { width, height } = shortestEdgeSize(img.width, img.height, size);
      return centerCrop(resizeBicubic(img, width, height), size);
    }
    default:
      return assertNever(mode, "preprocessImage: mode (expected 'squash' or 'crop')");
  }
}

/** RGB image → `pixel_values` [3, S, S] float32 CHW, bit-identical to the reference for the chosen mode. */
export function preprocessImage(img: RgbImage, opts: PreprocessOptions): Float32Array {
  if (opts === null || typeof opts !== 'object') {
    throw new FgClipError('INPUT_INVALID', `preprocessImage: missing options (expected { size, mean, std, mode? }, got ${opts}).`);
  }
  const resized = resizeForModel(img, opts.size, opts.mode ?? 'squash');
  return toPixelValues(resized, { mean: opts.mean, std: opts.std, rescaleFactor: opts.rescaleFactor });
}

/** `decodeImage` then `preprocessImage`: a file path or encoded bytes → [3, S, S] float32. */
export async function loadAndPreprocess(input: string | Uint8Array, opts: PreprocessOptions & DecodeOptions): Promise<Float32Array> {
  if (opts === null || typeof opts !== 'object') {
    throw new FgClipError('INPUT_INVALID', `loadAndPreprocess: missing options (expected { size, mean, std, mode? }, got ${opts}).`);
  }
  const img = await decodeImage(input, { autoOrient: opts.autoOrient, maxPixels: opts.maxPixels });
  return preprocessImage(img, opts);
}
