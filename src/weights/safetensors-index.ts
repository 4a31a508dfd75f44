/**
 * Sharded safetensors checkpoints: `model.safetensors.index.json` = `{metadata?, weight_map: {tensor: shard file}}`
 * (transformers `modeling_utils.py`, SAFE_WEIGHTS_INDEX_NAME). The index is untrusted: shard names must be plain
 * file names inside the checkpoint folder, and every tensor it lists must be in the shard it names.
 */
import { dirname, join } from 'node:path';
import { FgClipError } from '../errors.js';
import { readJsonFile } from '../platform/node/json-file.js';

/** Largest shard index read (real ones: tens of KB). */
const MAX_INDEX_BYTES = 64 << 20;
import { readSafetensors, readSafetensorsHeader, type ReadOptions } from './safetensors.js';
import type { TensorMap } from './types.js';

function malformed(path: string, what: string): FgClipError {
  return new FgClipError('WEIGHTS_MALFORMED', `${path}: ${what}`);
}

/** A shard reference is accepted only as a bare file name (no directories, no `..`, no absolute or drive paths). */
export function isPlainFileName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && name !== '.' && name !== '..' && !/[/\\\0:]/.test(name);
}

/** Parses and validates the index; returns shard file name → tensor names listed for it, in first-seen order. */
export async function readSafetensorsIndex(indexPath: string): Promise<Map<string, string[]>> {
  const json = await readJsonFile(indexPath, { what: 'shard index', code: 'WEIGHTS_MALFORMED', missingCode: 'WEIGHTS_MISSING', maxBytes: MAX_INDEX_BYTES });
  const weightMap = typeof json === 'object' && json !== null ? (json as Record<string, unknown>).weight_map : undefined;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw malformed(indexPath, 'weight_map must be an object mapping tensor names to shard file names');
  }
  const shards = new Map<string, string[]>();
  for (const [name, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string')
      throw malformed(
        indexPath,
        `weight_map[${JSON.stringify(name)}] must be a file name (got ${typeof file === 'object' ? (Array.isArray(file) ? 'an array' : 'an object') : String(file)})`,
      );
    if (!isPlainFileName(file)) {
      throw malformed(
        indexPath,
        `weight_map[${JSON.stringify(name)}] = ${JSON.stringify(file)} is not a plain file name inside the checkpoint folder. Shards must sit next to the index; refusing to read elsewhere.`,
      );
    }
    const list = shards.get(file) ?? [];
    list.push(name);
    shards.set(file, list);
  }
  if (shards.size === 0) throw malformed(indexPath, 'weight_map is empty');
  return shards;
}

/** Loads every shard named by the index; returns the tensors and the shard paths read. */
export async function readShardedSafetensors(indexPath: string, opts: ReadOptions = {}): Promise<{ tensors: TensorMap; files: string[] }> {
  const shards = await readSafetensorsIndex(indexPath);
  const dir = dirname(indexPath);
  const files = [...shards.keys()].map((f) => join(dir, f));

  const problems: string[] = [];
  for (const [file, names] of shards) {
    const present = new Set((await readSafetensorsHeader(join(dir, file))).tensors.map((t) => t.name));
    for (const n of names) if (!present.has(n)) problems.push(`${n} (listed in ${file})`);
  }
  if (problems.length > 0) {
    throw malformed(indexPath, `${problems.length} tensor(s) listed in weight_map are absent from their shard: ${problems.join(', ')}`);
  }

  const tensors: TensorMap = new Map();
  for (const path of files) {
    for (const [name, t] of await readSafetensors(path, opts)) {
      if (tensors.has(name)) throw malformed(path, `tensor ${JSON.stringify(name)} appears in more than one shard`);
      tensors.set(name, t);
    }
  }
  return { tensors, files };
}
