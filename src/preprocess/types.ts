/** Plain image values passed between the preprocessing stages. */
import { FgClipError } from '../errors.js';

/**
 * Pillow's decompression-bomb threshold: `Image.MAX_IMAGE_PIXELS = int(1024*1024*1024 // 4 // 3)` = 89,478,485 only
 * warns; `Image.open` raises `DecompressionBombError` when width*height > 2*MAX_IMAGE_PIXELS = 178,956,970.
 * Rejecting exactly what Pillow rejects keeps "the reference can encode this image" and "we can" the same set.
 */
export const DEFAULT_MAX_PIXELS = 178_956_970;

/** An 8-bit RGB image, rows top to bottom, pixels left to right, channels R,G,B interleaved (HWC). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** [H, W, 3] uint8, length width*height*3 */
  readonly data: Uint8Array;
}

/**
 * How an image becomes the model's S×S input.
 * - 'squash': the model card's and eval scripts' flow, `image.resize((S, S))` (PIL bicubic, aspect ratio not kept),
 *   after which CLIPImageProcessor's own resize and crop are no-ops (docs/model-spec.md §4).
 * - 'crop': plain CLIPImageProcessor: shortest edge to S, long edge `int(S*long/short)`, center crop S×S.
 */
export type ResizeMode = 'squash' | 'crop';

export interface PreprocessOptions {
  /** S, the vision tower's `image_size` (224 base, 336 large) */
  readonly size: number;
  /** default 'squash' (the model card's flow) */
  readonly mode?: ResizeMode;
  /** per-channel RGB mean (preprocessor_config.json `image_mean`) */
  readonly mean: readonly number[];
  /** per-channel RGB std (preprocessor_config.json `image_std`) */
  readonly std: readonly number[];
  /** default 1/255 (preprocessor_config.json `rescale_factor`) */
  readonly rescaleFactor?: number;
}

/** Throws INPUT_INVALID unless `img` is a well-formed RgbImage (checked at each public entry point). */
export function assertRgbImage(img: RgbImage, where: string): void {
  const ok =
    img !== null &&
    typeof img === 'object' &&
    Number.isInteger(img.width) &&
    Number.isInteger(img.height) &&
    img.width > 0 &&
    img.height > 0 &&
    img.data instanceof Uint8Array &&
    img.data.length === img.width * img.height * 3;
  if (!ok) {
    const got =
      img !== null && typeof img === 'object'
        ? `${img.width}x${img.height} with ${img.data instanceof Uint8Array ? `${img.data.length} bytes` : 'no Uint8Array data'}`
        : String(img);
    throw new FgClipError(
      'INPUT_INVALID',
      `${where}: not an RGB image (expected positive integer width/height and a Uint8Array of width*height*3 bytes, ` +
        `got ${got}). Decode images with decodeImage().`,
    );
  }
}
