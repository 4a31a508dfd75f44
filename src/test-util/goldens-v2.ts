/** Test helpers for the read-only FG-CLIP 2 fixtures in ../shared/goldens-v2 (never copied into the repo). */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from './goldens.js';

export const GOLDENS_V2 = process.env.FGCLIP_GOLDENS_V2 ?? resolve(REPO_ROOT, '..', 'shared', 'goldens-v2');

export function goldenV2Path(...parts: string[]): string {
  return join(GOLDENS_V2, ...parts);
}

export function readGoldenV2Json<T = unknown>(...parts: string[]): T {
  return JSON.parse(readFileSync(goldenV2Path(...parts), 'utf8')) as T;
}

/** A raw little-endian binary fixture ({file, dtype u8|f32}) as a typed array. */
export function readGoldenV2Array(entry: { file: string; dtype: string }): Uint8Array | Float32Array {
  const buf = readFileSync(goldenV2Path(entry.file));
  if (entry.dtype === 'u8') return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (entry.dtype === 'f32') return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  throw new Error(`unknown fixture dtype ${entry.dtype}`);
}
