/**
 * Image bytes → 8-bit RGB in the browser, as Pillow's `Image.open(f).convert("RGB")` gives (what the Node path gets
 * from sharp). Measured on every golden image in Chromium (decode.browser.test.ts, README "Browser"):
 *  - PNG with @jsquash/png (Squoosh's wasm build of the Rust `png` crate): bit-identical on all golden PNGs
 *    (RGB, RGBA, gray, non-square, tiny). Alpha is dropped, not composited (Pillow `rgba2rgb`); 16-bit gray is
 *    clipped to 255 like Pillow's I;16 → RGB (convert-rgb.ts), other 16-bit samples keep their high byte.
 *  - JPEG with @jsquash/jpeg (MozJPEG's decoder, libjpeg-turbo's integer IDCT and fancy upsampling, as Pillow and
 *    sharp use): bit-identical on the golden photo. EXIF orientation is not applied (Pillow's `open` does not).
 *  - anything else (WebP, GIF, BMP, AVIF): the browser's own decoder (createImageBitmap, no colour conversion,
 *    no premultiplication), not measured against Pillow.
 * `decoder: 'browser'` forces the browser's decoder for every format (smaller download, approximate: its measured
 * difference on the golden photo is in the README).
 * The pixel limit is checked from the header before any pixel is decoded, as on Node.
 */
import { FgClipError } from '../../errors.js';
import type { ImageDecoder } from '../ports.js';
import { samplesToRgb } from '../../preprocess/convert-rgb.js';
import { DEFAULT_MAX_PIXELS, type RgbImage } from '../../preprocess/types.js';

export type DecoderChoice = 'wasm' | 'browser';

export interface BrowserDecodeOptions {
  readonly maxPixels?: number;
  readonly decoder?: DecoderChoice;
}

type Format = 'png' | 'jpeg' | 'other';

function sniff(b: Uint8Array): Format {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  return 'other';
}

function decodeError(what: string, cause?: unknown): FgClipError {
  return new FgClipError(
    'IMAGE_DECODE',
    `decodeImage: ${what}. Supported: JPEG and PNG (exact), WebP/GIF/BMP/AVIF (browser decoder); the file must be complete.`,
    cause === undefined ? undefined : { cause },
  );
}

/** PNG IHDR: width, height, bit depth, colour type. */
function pngHeader(b: Uint8Array): { width: number; height: number; depth: number; colorType: number } {
  if (b.length < 33 || String.fromCharCode(b[12], b[13], b[14], b[15]) !== 'IHDR') throw decodeError('PNG without an IHDR chunk');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20), depth: b[24], colorType: b[25] };
}

/** JPEG: the first SOFn frame header's size. */
function jpegSize(b: Uint8Array): { width: number; height: number } {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) {
      i++;
      continue;
    }
    const m = b[i + 1];
    if (m === 0xff) {
      i++;
      continue;
    }
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      i += 2;
      continue;
    }
    const len = (b[i + 2] << 8) | b[i + 3];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return { height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8] };
    if (m === 0xda) break;
    i += 2 + len;
  }
  throw decodeError('JPEG without a frame header (truncated or not a JPEG)');
}

function checkPixels(width: number, height: number, maxPixels: number): void {
  if (width <= 0 || height <= 0) throw decodeError(`image with ${width}x${height} pixels`);
  if (width * height > maxPixels) {
    throw new FgClipError(
      'IMAGE_TOO_LARGE',
      `decodeImage: image too large (expected at most ${maxPixels} pixels, got ${width}x${height} = ${width * height}). Downscale it first, or raise maxPixels if the file is trusted.`,
    );
  }
}

function dropAlpha(rgba: Uint8ClampedArray | Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += 4, o += 3) {
    out[o] = rgba[i];
    out[o + 1] = rgba[i + 1];
    out[o + 2] = rgba[i + 2];
  }
  return out;
}

/** RGBA ImageData (e.g. from a canvas) → RGB, alpha dropped as Pillow's convert("RGB") does. */
export function imageDataToRgb(img: { width: number; height: number; data: Uint8ClampedArray | Uint8Array }): RgbImage {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width <= 0 || img.height <= 0 || img.data.length !== img.width * img.height * 4) {
    throw new FgClipError(
      'INPUT_INVALID',
      `ImageData: expected positive integer width/height and width*height*4 bytes (got ${img.width}x${img.height}, ${img.data?.length} bytes)`,
    );
  }
  return { width: img.width, height: img.height, data: dropAlpha(img.data, img.width * img.height) };
}

async function decodePng(b: Uint8Array): Promise<RgbImage> {
  const h = pngHeader(b);
  const png = await import('@jsquash/png');
  try {
    if (h.depth === 16 && h.colorType === 0) {
      // 16-bit gray: Pillow opens it as I;16, whose RGB conversion clips to 255 (not the high byte)
      const d = await png.decode(b.slice().buffer, { bitDepth: 16 });
      const n = d.width * d.height;
      const gray = new Uint16Array(n);
      for (let p = 0; p < n; p++) gray[p] = (d.data as Uint16Array)[p * 4];
      return { width: d.width, height: d.height, data: samplesToRgb('gray16', gray, 1, n) };
    }
    const d = await png.decode(b.slice().buffer);
    return { width: d.width, height: d.height, data: dropAlpha(d.data, d.width * d.height) };
  } catch (e) {
    throw decodeError(`corrupt or truncated PNG (${e instanceof Error ? e.message : String(e)})`, e);
  }
}

async function decodeJpeg(b: Uint8Array): Promise<RgbImage> {
  const { default: decode } = await import('@jsquash/jpeg/decode.js');
  try {
    const d = await decode(b.slice().buffer, { preserveOrientation: false });
    return { width: d.width, height: d.height, data: dropAlpha(d.data, d.width * d.height) };
  } catch (e) {
    throw decodeError(`corrupt or truncated JPEG (${e instanceof Error ? e.message : String(e)})`, e);
  }
}

/** The browser's decoder: no colour-space conversion, no premultiplied alpha, no EXIF rotation. */
export async function decodeWithBrowser(b: Uint8Array, maxPixels = DEFAULT_MAX_PIXELS): Promise<RgbImage> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(new Blob([b.slice()]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (e) {
    throw decodeError(`the browser cannot decode these ${b.length} bytes`, e);
  }
  try {
    checkPixels(bmp.width, bmp.height, maxPixels);
    const canvas = new OffscreenCanvas(bmp.width, bmp.height);
    const ctx = canvas.getContext('2d', { colorSpace: 'srgb', willReadFrequently: true });
    if (!ctx) throw decodeError('no 2D canvas context');
    ctx.drawImage(bmp, 0, 0);
    return imageDataToRgb(ctx.getImageData(0, 0, bmp.width, bmp.height, { colorSpace: 'srgb' }));
  } finally {
    bmp.close();
  }
}

/** Encoded image bytes → RGB like Pillow's convert("RGB"). Errors: IMAGE_DECODE, IMAGE_TOO_LARGE, INPUT_INVALID. */
export async function decodeImageBytes(bytes: Uint8Array, opts: BrowserDecodeOptions = {}): Promise<RgbImage> {
  if (!(bytes instanceof Uint8Array)) throw new FgClipError('INPUT_INVALID', 'decodeImage: expected a Uint8Array, Blob or ImageData');
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels === Infinity || (Number.isSafeInteger(maxPixels) && maxPixels > 0)))
    throw new FgClipError('INPUT_INVALID', `decodeImage: bad maxPixels (got ${JSON.stringify(maxPixels)})`);
  if (bytes.length === 0) throw decodeError('empty input');
  const fmt = sniff(bytes);
  if (fmt === 'png') {
    const h = pngHeader(bytes);
    checkPixels(h.width, h.height, maxPixels);
  } else if (fmt === 'jpeg') {
    const s = jpegSize(bytes);
    checkPixels(s.width, s.height, maxPixels);
  }
  if (opts.decoder === 'browser' || fmt === 'other') return decodeWithBrowser(bytes, maxPixels);
  return fmt === 'png' ? decodePng(bytes) : decodeJpeg(bytes);
}

/**
 * The image decoding port (src/platform/ports.ts `ImageDecoder`) in the browser: `decodeImageBytes` with the page's
 * decoder choice ('wasm': Pillow-exact PNG/JPEG; 'browser': the browser's own codecs). No file paths here.
 */
export function browserImageDecoder(choice?: DecoderChoice): ImageDecoder {
  return { decode: (bytes, opts) => decodeImageBytes(bytes, { maxPixels: opts?.maxPixels, decoder: choice }) };
}
