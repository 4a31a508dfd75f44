/**
 * Image bytes → 8-bit RGB, matching Pillow's `Image.open(f).convert("RGB")` (what the FG-CLIP model card, eval
 * scripts and CLIPImageProcessor's `do_convert_rgb` do), decoded with sharp/libvips.
 *
 * What "like Pillow" means here (Pillow src/libImaging/Convert.c, PngImagePlugin.py `_MODES`):
 * - RGBA / LA / PA: alpha dropped, colour kept as stored, no flattening (`rgba2rgb`, `la2rgb`): sharp `removeAlpha()`.
 * - L, 1-bit and palette images: gray replicated, palettes expanded (`l2rgb`, `p2rgb`): sharp `toColourspace('srgb')`.
 * - 16-bit and CMYK images: reduced by convert-rgb.ts, not by libvips (which scales 16-bit gray and colour-manages
 *   CMYK, where Pillow clips and uses a naive formula).
 * - Embedded ICC profiles are ignored (Pillow's `convert` does not apply them; sharp would by default).
 * - EXIF orientation is not applied (Pillow's `open` does not rotate); `autoOrient: true` applies it like
 *   `ImageOps.exif_transpose`.
 * - Multi-frame GIF/WebP/TIFF/AVIF: the first frame (Pillow's frame 0 after `open`).
 * Strictness: truncated or corrupt pixel data is an error, as Pillow's "image file is truncated"; one difference is
 * a JPEG whose scans are complete but whose final EOI marker is missing, which libvips reports as truncated while
 * Pillow usually loads it.
 * Not checked against Pillow: transparent GIF pixels (libvips gives libnsgif's RGB, Pillow the palette colour),
 * float/32-bit TIFF samples (libvips's cast), and lossy WebP/AVIF (libvips's libwebp/libheif builds vs Pillow's).
 */
import { stat } from 'node:fs/promises';
import { fileKind, readRegular } from '../platform/node/regular-file.js';

/** Largest image file read from a path (far above any real photo; pixels are bounded separately by maxPixels). */
const MAX_IMAGE_FILE_BYTES = 1 << 30;
import sharp from 'sharp';
import type { Metadata, OutputInfo, SharpOptions } from 'sharp';
import { FgClipError } from '../errors.js';
import { MIN_BANDS, samplesToRgb, type SampleLayout } from './convert-rgb.js';
import { DEFAULT_MAX_PIXELS, type RgbImage } from './types.js';

export { DEFAULT_MAX_PIXELS };

export interface DecodeOptions {
  /** apply the EXIF orientation tag (default false, as Pillow's `Image.open`) */
  readonly autoOrient?: boolean;
  /** reject images with width*height above this, from the header, before decoding (default 178,956,970; Infinity disables) */
  readonly maxPixels?: number;
}

/**
 * Strictness for pixel data: 'error' aborts on truncated files and decoder errors (Pillow raises "image file is
 * truncated" / "broken data stream"), but tolerates libjpeg warnings such as extraneous bytes, which Pillow ignores.
 */
const FAIL_ON = 'error' as const;

/**
 * Raster formats both Pillow and sharp's bundled libvips read. Anything else sharp can open (SVG, which Pillow cannot
 * read at all and which renders at a caller-chosen size; HEIC) is refused rather than decoded differently.
 */
const SUPPORTED_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif']);

function describe(input: unknown): string {
  if (typeof input === 'string') return `decodeImage(${JSON.stringify(input)})`;
  return input instanceof Uint8Array ? `decodeImage(<${input.length} bytes>)` : 'decodeImage';
}

function decodeError(where: string, what: string, cause?: unknown): FgClipError {
  return new FgClipError(
    'IMAGE_DECODE',
    `${where}: ${what}. Supported: JPEG, PNG, WebP, GIF, TIFF, AVIF; the file must be complete.`,
    cause === undefined ? undefined : { cause },
  );
}

function sharpMessage(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}

function tooLarge(where: string, width: number, height: number, maxPixels: number): FgClipError {
  return new FgClipError(
    'IMAGE_TOO_LARGE',
    `${where}: image too large (expected at most ${maxPixels} pixels, got ${width}x${height} = ${width * height}). ` +
      `Downscale it first, or raise DecodeOptions.maxPixels if the file is trusted.`,
  );
}

async function readInput(input: string | Uint8Array, where: string): Promise<Uint8Array> {
  if (typeof input === 'string') {
    const failed = (e: unknown): FgClipError => {
      const code = (e as NodeJS.ErrnoException).code;
      const what =
        code === 'ENOENT'
          ? 'file not found'
          : code === 'EISDIR'
            ? 'path is a directory, not an image file'
            : code === 'EACCES'
              ? 'file not readable (permission denied)'
              : `cannot read file (${sharpMessage(e)})`;
      return decodeError(where, what, e);
    };
    // stat before opening: a FIFO's open would block, a device such as /dev/zero never ends
    const st = await stat(input).catch((e: unknown) => {
      throw failed(e);
    });
    if (st.isDirectory()) throw decodeError(where, 'path is a directory, not an image file');
    if (!st.isFile()) throw decodeError(where, `path is ${fileKind(st)}, not an image file`);
    try {
      return await readRegular(input, { what: 'image', code: 'IMAGE_DECODE', maxBytes: MAX_IMAGE_FILE_BYTES });
    } catch (e) {
      if (e instanceof FgClipError) throw decodeError(where, `cannot read file (${e.message})`, e);
      throw failed(e);
    }
  }
  if (input instanceof Uint8Array) return input;
  throw new FgClipError(
    'INPUT_INVALID',
    `decodeImage: bad input (expected a file path string or a Uint8Array of encoded image bytes, got ${input === null ? 'null' : typeof input}).`,
  );
}

function checkOptions(opts: DecodeOptions): { autoOrient: boolean; maxPixels: number } {
  const autoOrient = opts.autoOrient ?? false;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (typeof autoOrient !== 'boolean') {
    throw new FgClipError('INPUT_INVALID', `decodeImage: bad autoOrient (expected a boolean, got ${JSON.stringify(autoOrient)}).`);
  }
  if (!(maxPixels === Infinity || (Number.isSafeInteger(maxPixels) && maxPixels > 0))) {
    throw new FgClipError('INPUT_INVALID', `decodeImage: bad maxPixels (expected a positive integer or Infinity, got ${JSON.stringify(maxPixels)}).`);
  }
  return { autoOrient, maxPixels };
}

/** 'rgb8': libvips's own RGB output is already Pillow's; the others are reduced by `samplesToRgb`. */
type Layout = 'rgb8' | SampleLayout;

function layoutOf(meta: Metadata): Layout {
  if (meta.space === 'cmyk') return 'cmyk';
  if (meta.depth === 'ushort') {
    if (meta.space === 'grey16' || meta.channels <= 2) return meta.channels === 2 ? 'grayAlpha16' : 'gray16';
    return 'rgb16';
  }
  return 'rgb8';
}

/**
 * Decodes a file path or encoded bytes to RGB as Pillow's `Image.open(...).convert("RGB")` would.
 * Errors: IMAGE_DECODE (missing/unreadable file, empty, not an image, truncated or corrupt), IMAGE_TOO_LARGE
 * (header dimensions over `maxPixels`, checked before any pixel is decoded), INPUT_INVALID (bad arguments).
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const { autoOrient, maxPixels } = checkOptions(opts);
  const where = describe(input);
  const bytes = await readInput(input, where);
  if (bytes.length === 0) throw decodeError(where, 'empty input (0 bytes)');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const sharpOpts: SharpOptions = {
    failOn: FAIL_ON,
    // sharp's own guard as a second line (same limit); `false` disables it when maxPixels is Infinity.
    limitInputPixels: maxPixels === Infinity ? false : maxPixels,
    ignoreIcc: true,
    autoOrient,
    pages: 1,
    page: 0,
  };

  let meta: Metadata;
  try {
    // Header only (libvips opens images lazily); sharp's pixel guard is off here so our check below reports the size.
    meta = await sharp(buf, { ...sharpOpts, limitInputPixels: false }).metadata();
  } catch (e) {
    throw decodeError(where, `not a supported image (${sharpMessage(e)})`, e);
  }
  const format = meta.format === 'heif' ? (meta.compression === 'av1' ? 'avif' : `heif/${meta.compression}`) : meta.format;
  if (!SUPPORTED_FORMATS.has(format)) {
    throw decodeError(where, `unsupported image format "${format}"`);
  }
  if (!(meta.width > 0 && meta.height > 0)) {
    throw decodeError(where, `image header has no dimensions (got ${meta.width}x${meta.height})`);
  }
  if (meta.width * meta.height > maxPixels) throw tooLarge(where, meta.width, meta.height, maxPixels);

  const layout = layoutOf(meta);
  const wide = meta.depth === 'ushort';
  let pipeline = sharp(buf, sharpOpts);
  switch (layout) {
    case 'rgb8':
      pipeline = pipeline.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' });
      break;
    case 'cmyk':
      // keep CMYK through the pipeline: sharp would otherwise convert it with a built-in ICC profile
      pipeline = pipeline
        .pipelineColourspace('cmyk')
        .toColourspace('cmyk')
        .raw({ depth: wide ? 'ushort' : 'uchar' });
      break;
    case 'rgb16':
      pipeline = pipeline.toColourspace('rgb16').raw({ depth: 'ushort' });
      break;
    case 'gray16':
    case 'grayAlpha16':
      pipeline = pipeline.toColourspace('grey16').raw({ depth: 'ushort' });
      break;
  }
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await pipeline.toBuffer({ resolveWithObject: true }));
  } catch (e) {
    const msg = sharpMessage(e);
    if (/pixel limit/i.test(msg)) throw tooLarge(where, meta.width, meta.height, maxPixels);
    throw decodeError(where, `corrupt or truncated image data (${msg})`, e);
  }
  const { width, height, channels } = info;
  const bytesPerSample = layout === 'rgb8' || !wide ? 1 : 2;
  const bandsOk = layout === 'rgb8' ? channels === 3 : channels >= MIN_BANDS[layout];
  if (!bandsOk || data.length !== width * height * channels * bytesPerSample) {
    throw decodeError(where, `unexpected decoder output for ${layout} (got ${channels} band(s), ${data.length} bytes for ${width}x${height})`);
  }
  if (layout === 'rgb8') return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  const samples =
    bytesPerSample === 2
      ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length))
      : new Uint8Array(data.buffer, data.byteOffset, data.length);
  return { width, height, data: samplesToRgb(layout, samples, channels, width * height) };
}
