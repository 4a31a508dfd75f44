/** NumPy .npy (format 1.0) writer for a list of equal-length float32 vectors → a 2-D '<f4' array. */
import { FgClipError } from '../errors.js';

export function encodeNpy(rows: readonly Float32Array[]): Buffer {
  const n = rows.length;
  const d = n > 0 ? rows[0].length : 0;
  if (rows.some((r) => r.length !== d)) throw new FgClipError('INPUT_INVALID', 'npy: rows have different lengths');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${d}), }`;
  // magic(6) + version(2) + header length(2) + header, padded with spaces and ending in \n to a multiple of 64
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = Buffer.alloc(10 + header.length + n * d * 4);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  let o = 10 + header.length;
  for (const r of rows) {
    for (let i = 0; i < d; i++, o += 4) out.writeFloatLE(r[i], o);
  }
  return out;
}
