/**
 * Serialises tensors into the safetensors layout (8-byte little-endian header length, JSON header padded with
 * spaces to a multiple of 8 as the reference writer does, then the data in header order). Used to convert
 * `pytorch_model.bin` checkpoints and by tests to build files.
 */
import type { Tensor } from './types.js';

export interface RawTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** A float32 tensor's bytes as an F32 safetensors entry (little-endian host assumed, see dtype.ts). */
export function rawF32(t: Tensor): RawTensor {
  return { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
}

export function encodeSafetensors(tensors: Iterable<readonly [string, RawTensor]>, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    parts.push(t.bytes);
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}
