/**
 * Any image input (a file path, encoded bytes, or an already decoded RGB image) → RGB through an injected
 * `ImageDecoder` (the image decoding port, src/platform/ports.ts). Used by the model handle, the server's engine and
 * the preprocessing pool's workers, so every path decodes with the same port.
 */
import { FgClipError } from '../errors.js';
import type { ImageDecodeOptions, ImageDecoder } from '../platform/ports.js';
import type { RgbImage } from './types.js';

export function isRgbInput(x: unknown): x is RgbImage {
  return typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && 'data' in x && 'width' in x && 'height' in x;
}

export async function decodeInput(decoder: ImageDecoder, input: string | Uint8Array | RgbImage, opts?: ImageDecodeOptions): Promise<RgbImage> {
  if (isRgbInput(input)) return input;
  if (input instanceof Uint8Array) return decoder.decode(input, opts);
  if (typeof input === 'string') {
    if (!decoder.decodeFile)
      throw new FgClipError(
        'INPUT_INVALID',
        `decodeImage(${JSON.stringify(input)}): this platform's image decoder reads no file paths; pass the encoded bytes`,
      );
    return decoder.decodeFile(input, opts);
  }
  throw new FgClipError(
    'INPUT_INVALID',
    `decodeImage: bad input (expected a file path string or a Uint8Array of encoded image bytes, got ${input === null ? 'null' : typeof input}).`,
  );
}
