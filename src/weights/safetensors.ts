/**
 * A defensive reader for `.safetensors` files, which we treat as untrusted input (style.md P4).
 * Format (huggingface/safetensors README): 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}`, then the data region;
 * offsets are relative to the start of the data region. Tensors are read one by one with a file handle, so a
 * 1.7 GB checkpoint never becomes one string or one Buffer.
 */
import type { FileHandle } from 'node:fs/promises';
import { FgClipError } from '../errors.js';
import { openRegular, type RegularFileOptions } from '../platform/node/regular-file.js';
import { SAFETENSORS_ITEM_SIZE, assertFinite, isLoadable, readAsFloat32, readExact } from './dtype.js';
import type { TensorMap } from './types.js';

/** Same cap as the reference implementation (safetensors `MAX_HEADER_SIZE` = 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  readonly name: string;
  /** dtype string as written in the header; only F32/F16/BF16 can be loaded */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** absolute byte range in the file, [begin, end) */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly path: string;
  readonly fileSize: number;
  /** first byte of the data region (8 + header length) */
  readonly dataStart: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** in file order (sorted by begin) */
  readonly tensors: readonly SafetensorsEntry[];
}

export interface ReadOptions {
  /** load only the tensors for which this returns true (the header is still validated entirely) */
  readonly only?: (name: string) => boolean;
  /** accept NaN/±Inf values (default: WEIGHTS_NONFINITE naming the tensor) */
  readonly allowNonFinite?: boolean;
}

function malformed(path: string, what: string, hint = 'The file is damaged or not a safetensors file; download it again.'): FgClipError {
  return new FgClipError('WEIGHTS_MALFORMED', `${path}: ${what}. ${hint}`);
}

/** Opens a weight file after refusing directories, FIFOs, devices (a symlink to /dev/zero) and dangling links. */
async function openWeightFile(path: string): Promise<FileHandle> {
  return (await openRegular(path, WEIGHT_FILE)).fh;
}

export const WEIGHT_FILE: RegularFileOptions = { what: 'weight file', code: 'WEIGHTS_MALFORMED', missingCode: 'WEIGHTS_MISSING' };

const openFile = openWeightFile;

/** Reads and validates the header (lengths, JSON shape, dtypes, shapes, offsets, overlaps, file bounds). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await openFile(path);
  try {
    return await readHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

async function readHeaderFrom(fh: FileHandle, path: string): Promise<SafetensorsHeader> {
  const fileSize = (await fh.stat()).size;
  if (fileSize < 8) throw malformed(path, `file has ${fileSize} bytes, fewer than the 8-byte header length`);
  const lenBytes = new Uint8Array(8);
  await readExact(fh, lenBytes, 0, path, 'header length');
  const n64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES) || n64 > BigInt(fileSize - 8)) {
    throw malformed(path, `header length ${n64} is out of range (expected at most ${Math.min(MAX_HEADER_BYTES, fileSize - 8)} for a ${fileSize}-byte file)`);
  }
  const n = Number(n64);
  const headerBytes = new Uint8Array(n);
  await readExact(fh, headerBytes, 8, path, 'header');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw malformed(path, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  return parseHeader(json, path, fileSize, 8 + n);
}

/** JSON of an untrusted value for a message: cut short, and never a stack overflow on deep nesting. */
function brief(x: unknown): string {
  try {
    const s = JSON.stringify(x) ?? String(x);
    return s.length > 120 ? `${s.slice(0, 117)}...` : s;
  } catch {
    return Array.isArray(x) ? `[array of ${x.length}, too deeply nested]` : `(${typeof x})`;
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isSafeNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Validates a parsed header object; `dataStart` = 8 + header length. */
export function parseHeader(json: unknown, path: string, fileSize: number, dataStart: number): SafetensorsHeader {
  if (!isRecord(json)) throw malformed(path, `header must be a JSON object (got ${Array.isArray(json) ? 'an array' : typeof json})`);
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(info) || !Object.values(info).every((v) => typeof v === 'string')) {
        throw malformed(path, '__metadata__ must be an object of string values');
      }
      Object.assign(metadata, info);
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (!isRecord(info)) throw malformed(path, `${where}: entry must be an object with dtype, shape and data_offsets`);
    const { dtype, shape, data_offsets: off } = info;
    if (typeof dtype !== 'string') throw malformed(path, `${where}: dtype must be a string (got ${brief(dtype)})`);
    const size = SAFETENSORS_ITEM_SIZE[dtype];
    if (size === undefined) {
      throw new FgClipError(
        'WEIGHTS_DTYPE',
        `${path}: ${where} has dtype ${JSON.stringify(dtype)}, which is not a known safetensors dtype. Loadable dtypes: F32, F16, BF16.`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isSafeNonNegInt)) {
      throw malformed(path, `${where}: shape must be a list of non-negative integers (got ${brief(shape)})`);
    }
    let bytes = size;
    for (const d of shape) bytes *= d;
    if (!Number.isSafeInteger(bytes)) throw malformed(path, `${where}: shape ${JSON.stringify(shape)} is too large`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isSafeNonNegInt) || off[0] > off[1]) {
      throw malformed(path, `${where}: data_offsets must be [begin, end] with 0 <= begin <= end (got ${brief(off)})`);
    }
    const [b, e] = off as [number, number];
    if (e - b !== bytes) {
      throw malformed(path, `${where}: data_offsets [${b}, ${e}] span ${e - b} bytes but ${dtype} ${JSON.stringify(shape)} needs ${bytes}`);
    }
    if (e > dataLen) {
      throw malformed(
        path,
        `${where}: data_offsets [${b}, ${e}] reach past the end of the file (data region has ${dataLen} bytes, file ${fileSize})`,
        'The file is truncated (incomplete download?) or its header is corrupt; download it again.',
      );
    }
    tensors.push({ name, dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  tensors.sort((x, y) => x.begin - y.begin || x.end - y.end);
  for (let i = 1; i < tensors.length; i++) {
    const p = tensors[i - 1];
    const t = tensors[i];
    if (t.begin < p.end) {
      throw malformed(
        path,
        `tensors ${JSON.stringify(p.name)} and ${JSON.stringify(t.name)} overlap (bytes ${t.begin}..${Math.min(p.end, t.end)} of the file)`,
      );
    }
  }
  return { path, fileSize, dataStart, metadata, tensors };
}

/** Reads the selected tensors as float32 (F16/BF16 upcast exactly); other dtypes are WEIGHTS_DTYPE. */
export async function readSafetensors(path: string, opts: ReadOptions = {}): Promise<TensorMap> {
  const fh = await openFile(path);
  try {
    const header = await readHeaderFrom(fh, path);
    const selected = header.tensors.filter((t) => !opts.only || opts.only(t.name));
    const bad = selected.filter((t) => !isLoadable(t.dtype));
    if (bad.length > 0) {
      const list = bad.map((t) => `${t.name} (${t.dtype})`).join(', ');
      throw new FgClipError(
        'WEIGHTS_DTYPE',
        `${path}: unsupported tensor dtype for ${list}. Loadable dtypes: F32, F16, BF16; convert the checkpoint to one of them.`,
      );
    }
    const out: TensorMap = new Map();
    for (const t of selected) {
      const dtype = t.dtype;
      if (!isLoadable(dtype)) continue; // unreachable: checked above; narrows the type
      const numel = t.shape.reduce((a, d) => a * d, 1);
      const data = await readAsFloat32(fh, dtype, numel, t.begin, path, `tensor ${JSON.stringify(t.name)}`);
      if (!opts.allowNonFinite) assertFinite(data, path, t.name);
      out.set(t.name, { shape: t.shape, data, storedDtype: dtype });
    }
    return out;
  } finally {
    await fh.close();
  }
}
