/**
 * Safetensors checkpoints read from Blobs (OPFS files or files the user picked) one tensor at a time, inside the
 * model worker: the header is validated by the same parser as on Node, and each tensor is read synchronously
 * (FileReaderSync) when the graph builder asks for it, upcast to float32 and then dropped by the builder, so the
 * whole checkpoint is never in memory.
 */
import type { FgClipConfig } from '../../config/types.js';
import { FgClipError } from '../../errors.js';
import type { WeightSource } from '../../graph/blocks.js';
import { upcastHalf } from '../../weights/dtype.js';
import { MAX_HEADER_BYTES, parseHeader, type SafetensorsEntry, type SafetensorsHeader } from '../../weights/safetensors.js';
import { fgclipTensors } from '../../families/fgclip/checkpoint.js';
import { isIgnorableBuffer } from '../../weights/checkpoint.js';
import { fileReaderSync } from './worker-types.js';

interface Located {
  readonly blob: Blob;
  readonly file: string;
  readonly entry: SafetensorsEntry;
}

/** A safetensors Blob's header, validated by the parser Node uses. */
export async function safetensorsHeaderOf(blob: Blob, file: string): Promise<SafetensorsHeader> {
  if (blob.size < 8) throw new FgClipError('WEIGHTS_MALFORMED', `${file}: ${blob.size} bytes, fewer than the 8-byte header length`);
  const n64 = new DataView(await blob.slice(0, 8).arrayBuffer()).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES) || n64 > BigInt(blob.size - 8))
    throw new FgClipError('WEIGHTS_MALFORMED', `${file}: header length ${n64} is out of range for a ${blob.size}-byte file`);
  const n = Number(n64);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await blob.slice(8, 8 + n).arrayBuffer()));
  } catch (e) {
    throw new FgClipError('WEIGHTS_MALFORMED', `${file}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  return parseHeader(json, file, blob.size, 8 + n);
}

/**
 * A lazy, consuming weight source over safetensors blobs (one file, or the shards of an index). Every tensor the
 * config expects is checked (present, shape) before any graph is built.
 */
export async function blobWeightSource(
  files: readonly { name: string; blob: Blob }[],
  config: FgClipConfig,
): Promise<{ source: WeightSource; unknown: string[]; elements: number }> {
  const where = new Map<string, Located>();
  for (const { name, blob } of files) {
    for (const entry of (await safetensorsHeaderOf(blob, name)).tensors) {
      if (isIgnorableBuffer(entry.name)) continue;
      if (where.has(entry.name)) throw new FgClipError('WEIGHTS_MALFORMED', `${name}: tensor ${entry.name} is also in ${where.get(entry.name)?.file}`);
      where.set(entry.name, { blob, file: name, entry });
    }
  }
  const expected = fgclipTensors(config);
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const l = where.get(name);
    if (!l) problems.push(`missing ${name} [${shape.join(', ')}]`);
    else if (l.entry.shape.length !== shape.length || l.entry.shape.some((d, i) => d !== shape[i]))
      problems.push(`${name} has shape [${l.entry.shape.join(', ')}], expected [${shape.join(', ')}]`);
    else if (!['F32', 'F16', 'BF16'].includes(l.entry.dtype))
      throw new FgClipError('WEIGHTS_DTYPE', `${l.file}: tensor ${name} has dtype ${l.entry.dtype}; loadable dtypes: F32, F16, BF16`);
  }
  if (problems.length > 0) {
    const missing = problems.some((p) => p.startsWith('missing'));
    throw new FgClipError(
      missing ? 'WEIGHTS_MISSING' : 'WEIGHTS_SHAPE',
      `${files.map((f) => f.name).join(', ')}: checkpoint does not match config.json: ${problems.slice(0, 6).join('; ')}${problems.length > 6 ? '; …' : ''}. (A plain OpenAI CLIP checkpoint is not converted in the browser: load it with the Node library.)`,
    );
  }
  const unknown = [...where.keys()].filter((n) => !expected.has(n));
  const reader = fileReaderSync();
  const used = new Set<string>();
  const source: WeightSource = {
    get(name, shape) {
      const l = where.get(name);
      if (!l || used.has(name)) throw new FgClipError('WEIGHTS_MISSING', `checkpoint: tensor ${name} is missing${used.has(name) ? ' (already consumed)' : ''}`);
      const numel = shape.reduce((a, b) => a * b, 1);
      const item = l.entry.dtype === 'F32' ? 4 : 2;
      if ((l.entry.end - l.entry.begin) / item !== numel)
        throw new FgClipError('WEIGHTS_SHAPE', `${l.file}: tensor ${name} has shape [${l.entry.shape.join(', ')}], expected [${shape.join(', ')}]`);
      used.add(name);
      const bytes = reader.readAsArrayBuffer(l.blob.slice(l.entry.begin, l.entry.end));
      if (bytes.byteLength !== l.entry.end - l.entry.begin)
        throw new FgClipError('WEIGHTS_MALFORMED', `${l.file}: tensor ${name}: short read (file truncated?)`);
      if (l.entry.dtype === 'F32') return new Float32Array(bytes);
      const out = new Float32Array(numel);
      upcastHalf(l.entry.dtype as 'F16' | 'BF16', new Uint16Array(bytes), out);
      return out;
    },
  };
  let elements = 0;
  for (const shape of expected.values()) elements += shape.reduce((a, b) => a * b, 1);
  return { source, unknown, elements };
}
