/**
 * A stand-in for the image decoding port in tests: every input decodes to the same 9×7 RGB image (values from the
 * input's first byte, so a test can tell inputs apart), and every call is counted. `grayDecoder` names its own
 * module, so a preprocessing pool's workers import it; `grayDecoderHere` does not (decoded on the calling thread).
 */
import type { ImageDecoder } from '../platform/ports.js';
import type { RgbImage } from '../preprocess/types.js';

export const decoded = { count: 0 };

export function grayImage(level: number): RgbImage {
  return { width: 9, height: 7, data: new Uint8Array(9 * 7 * 3).map((_, i) => (level + (i % 3) * 40) % 256) };
}

const levelOf = (x: Uint8Array | string) => (typeof x === 'string' ? x.length : (x[0] ?? 0));

export const grayDecoder: ImageDecoder = {
  async decode(bytes) {
    decoded.count++;
    return grayImage(levelOf(bytes));
  },
  async decodeFile(path) {
    decoded.count++;
    return grayImage(levelOf(path));
  },
  worker: { module: import.meta.url, exportName: 'grayDecoder' },
};

export const grayDecoderHere: ImageDecoder = { decode: grayDecoder.decode, decodeFile: grayDecoder.decodeFile };
