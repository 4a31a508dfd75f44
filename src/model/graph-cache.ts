/**
 * On-disk cache of built graphs, so a second load skips reading, transposing and re-encoding the weights:
 *   <fgclip cache>/graphs/<key>/{vision-<S>,text}/model.onnx + weights.bin, text-tables.bin, meta.json
 * The key hashes the checkpoint's content identity (model-identity.ts: HF blob names, or a remembered sha256),
 * the graph layout version, the linear-layer dtype and the resolution. Entries are written to a temporary folder
 * and renamed into place, so a crashed writer never leaves a half entry that a reader would trust.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fgclipCacheDir } from '../tasks/cache.js';
import { folderIdentity } from '../tasks/model-identity.js';
import type { BuiltModel } from '../graph/onnx-builder.js';
import { EXTERNAL_DATA_NAME } from '../graph/onnx-builder.js';

/** Bump when the graphs built from the same weights change. */
export const GRAPH_LAYOUT_VERSION = 3;

export interface CachedMeta {
  readonly version: number;
  readonly logitScaleLog: number;
  readonly unknownTensors: readonly string[];
  /** float counts of token embedding, short positions, long positions in text-tables.bin */
  readonly tableSizes: readonly [number, number, number];
}

export interface GraphCacheEntry {
  readonly dir: string;
  readonly textModel: string;
  visionModel(S: number): string;
}

export async function graphCacheEntry(modelDir: string, parts: { dtype: string; imageSize: number }, cacheDir?: string): Promise<GraphCacheEntry> {
  const identity = await folderIdentity(modelDir, cacheDir ? { dir: cacheDir } : {});
  const key = createHash('sha256').update(JSON.stringify({ identity, v: GRAPH_LAYOUT_VERSION, ...parts })).digest('hex').slice(0, 32);
  const dir = join(cacheDir ?? fgclipCacheDir(), 'graphs', key);
  return { dir, textModel: join(dir, 'text', 'model.onnx'), visionModel: (S) => join(dir, `vision-${S}`, 'model.onnx') };
}

export function readCached(entry: GraphCacheEntry, S: number): { meta: CachedMeta; tables: Float32Array } | undefined {
  const metaPath = join(entry.dir, 'meta.json');
  if (!existsSync(metaPath) || !existsSync(entry.textModel) || !existsSync(entry.visionModel(S))) return undefined;
  try {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as CachedMeta;
    if (meta.version !== GRAPH_LAYOUT_VERSION) return undefined;
    const buf = readFileSync(join(entry.dir, 'text-tables.bin'));
    const n = meta.tableSizes.reduce((a, b) => a + b, 0);
    if (buf.byteLength !== n * 4) return undefined;
    const tables = new Float32Array(n);
    new Uint8Array(tables.buffer).set(buf);
    return { meta, tables };
  } catch {
    return undefined; // a damaged entry is rebuilt
  }
}

/** Writes a complete entry (text graph, one vision graph, tables, meta). Failures only cost the cache. */
export function writeCached(entry: GraphCacheEntry, S: number, graphs: { text: BuiltModel; vision: BuiltModel }, tables: readonly Float32Array[], meta: CachedMeta): boolean {
  const tmp = `${entry.dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    mkdirSync(join(tmp, 'text'), { recursive: true });
    mkdirSync(join(tmp, `vision-${S}`), { recursive: true });
    for (const [sub, g] of [['text', graphs.text], [`vision-${S}`, graphs.vision]] as const) {
      writeFileSync(join(tmp, sub, 'model.onnx'), g.model);
      writeFileSync(join(tmp, sub, EXTERNAL_DATA_NAME), g.weights);
    }
    const all = Buffer.concat(tables.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength)));
    writeFileSync(join(tmp, 'text-tables.bin'), all);
    writeFileSync(join(tmp, 'meta.json'), JSON.stringify(meta));
    rmSync(entry.dir, { recursive: true, force: true });
    renameSync(tmp, entry.dir);
    return true;
  } catch {
    rmSync(tmp, { recursive: true, force: true });
    return false;
  }
}
