/**
 * Stored dtypes and their upcast to float32, shared by the safetensors and PyTorch readers. Conversions are exact:
 * every f16 and bf16 value (NaN payloads included) has a float32 bit pattern that represents it.
 */
import { endianness } from 'node:os';
import type { FileHandle } from 'node:fs/promises';
import { FgClipError } from '../errors.js';
import type { StoredDtype } from './types.js';

/**
 * Byte size of every safetensors dtype we recognise (safetensors `Dtype`); only F32/F16/BF16 are loadable.
 * A null-prototype object: a header dtype such as "constructor" or "__proto__" must not find anything.
 */
export const SAFETENSORS_ITEM_SIZE: Readonly<Record<string, number>> = Object.assign(Object.create(null) as Record<string, number>, {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
  C64: 8,
});

/**
 * Refuses a tensor holding NaN or ±Inf: no trained weight is non-finite, and one such value turns every output
 * it reaches into NaN (printed as `null`). Names the tensor, the first bad index and how many there are.
 */
export function assertFinite(data: Float32Array, file: string, name: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      let n = 0;
      for (let j = i; j < data.length; j++) if (data[j] - data[j] !== 0) n++;
      throw new FgClipError(
        'WEIGHTS_NONFINITE',
        `${file}: tensor ${JSON.stringify(name)} holds ${n} non-finite value(s) (first: ${data[i]} at flat index ${i}). The checkpoint is damaged (a diverged training run?); weights must be finite.`,
      );
    }
  }
}

export const LOADABLE_DTYPES: readonly StoredDtype[] = ['F32', 'F16', 'BF16'];

export function isLoadable(dtype: string): dtype is StoredDtype {
  return (LOADABLE_DTYPES as readonly string[]).includes(dtype);
}

export function itemSize(dtype: StoredDtype): number {
  return dtype === 'F32' ? 4 : 2;
}

/** Typed-array views reinterpret bytes in host order; the files are little-endian. */
export function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') {
    throw new FgClipError('RUNTIME', `weights: big-endian hosts are not supported (files are little-endian, host is ${endianness()})`);
  }
}

let f16Table: Uint32Array | undefined;

/** float32 bit pattern of each of the 65536 half-precision values (IEEE 754 binary16). */
function halfTable(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  const f = new Float32Array(1);
  const fu = new Uint32Array(f.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) {
      t[h] = sign | 0x7f800000 | (mant << 13); // ±Inf, NaN (payload kept)
    } else if (exp !== 0) {
      t[h] = sign | ((exp + 112) << 23) | (mant << 13); // normal: rebias 15 → 127
    } else {
      f[0] = mant * 2 ** -24; // zero and subnormals are exact in float32
      t[h] = sign | fu[0];
    }
  }
  f16Table = t;
  return t;
}

/** Upcasts `src` (F16 or BF16 bit patterns) into `dst`, which must have the same length. */
export function upcastHalf(dtype: 'F16' | 'BF16', src: Uint16Array, dst: Float32Array): void {
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  if (dtype === 'BF16') {
    for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
    return;
  }
  const t = halfTable();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
}

/** Reads exactly `dst.length` bytes at `position`; a short read means the file is shorter than its index claims. */
export async function readExact(fh: FileHandle, dst: Uint8Array, position: number, file: string, what: string): Promise<void> {
  const CHUNK = 1 << 30; // fs.read caps one call at 2 GiB
  let done = 0;
  while (done < dst.length) {
    const len = Math.min(CHUNK, dst.length - done);
    const { bytesRead } = await fh.read(dst, done, len, position + done);
    if (bytesRead === 0) {
      throw new FgClipError(
        'WEIGHTS_MALFORMED',
        `${file}: ${what}: file ends at byte ${position + done} but ${dst.length - done} more bytes were expected. The file is truncated; download it again.`,
      );
    }
    done += bytesRead;
  }
}

/** Reads `numel` values of `dtype` at `position` and returns them as float32 (F32 read in place, halves upcast). */
export async function readAsFloat32(fh: FileHandle, dtype: StoredDtype, numel: number, position: number, file: string, what: string): Promise<Float32Array> {
  assertLittleEndianHost();
  const out = new Float32Array(numel);
  if (dtype === 'F32') {
    await readExact(fh, new Uint8Array(out.buffer), position, file, what);
    return out;
  }
  const raw = new Uint16Array(numel);
  await readExact(fh, new Uint8Array(raw.buffer), position, file, what);
  upcastHalf(dtype, raw, out);
  return out;
}
