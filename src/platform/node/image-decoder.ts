/** The image decoding port (src/platform/ports.ts `ImageDecoder`) on Node: sharp/libvips, Pillow-exact (preprocess/decode.ts). */
import { decodeImage } from '../../preprocess/decode.js';
import type { ImageDecoder } from '../ports.js';

export const nodeImageDecoder: ImageDecoder = {
  decode: (bytes, opts) => {
    if (!(bytes instanceof Uint8Array)) return Promise.reject(new TypeError('ImageDecoder.decode: expected a Uint8Array'));
    return decodeImage(bytes, opts);
  },
  decodeFile: (path, opts) => decodeImage(path, opts),
  // the preprocessing pool's workers import this same module and use this export
  worker: { module: import.meta.url, exportName: 'nodeImageDecoder' },
};
