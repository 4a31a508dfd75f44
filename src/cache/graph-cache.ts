/**
 * On-disk cache of built graphs, so a second load skips reading, transposing and re-encoding the weights:
 *   <fgclip cache>/graphs/<key>/{vision-<S>,text}/model.onnx + weights.bin, text-tables.bin, meta.json
 * The key hashes the checkpoint's content identity (model-identity.ts: HF blob names, or a remembered sha256),
 * the graph layout version, the linear-layer dtype and the resolution. Entries are written to a temporary folder
 * and renamed into place, so a crashed writer never leaves a half entry that a reader would trust.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fgclipCacheDir } from './vector-store.js';
import { folderIdentity } from './model-identity.js';
import type { BuiltModel } from '../graph/onnx-builder.js';
import { EXTERNAL_DATA_NAME } from '../graph/onnx-builder.js';
import { FileSink } from '../platform/node/file-sink.js';

/** Bump when the graphs built from the same weights change. */
export const GRAPH_LAYOUT_VERSION = 4;

export interface CachedMeta {
  readonly version: number;
  readonly logitScaleLog: number;
  readonly unknownTensors: readonly string[];
  /** float counts of the short and long position tables in text-tables.bin */
  readonly tableSizes: readonly [number, number];
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

/**
 * A cache entry being written: graphs stream their weights into `sink(sub)` files of a temporary folder, and
 * `commit` renames it into place once everything is there. Failures only cost the cache.
 */
export class Staging {
  private readonly tmp: string;
  private constructor(private readonly entry: GraphCacheEntry) {
    this.tmp = `${entry.dir}.tmp-${process.pid}-${Date.now()}`;
  }

  static start(entry: GraphCacheEntry): Staging | undefined {
    const s = new Staging(entry);
    try {
      mkdirSync(s.tmp, { recursive: true });
      return s;
    } catch {
      return undefined;
    }
  }

  sink(sub: string): FileSink {
    mkdirSync(join(this.tmp, sub), { recursive: true });
    return new FileSink(join(this.tmp, sub, EXTERNAL_DATA_NAME));
  }

  writeModel(sub: string, model: BuiltModel): void {
    writeFileSync(join(this.tmp, sub, 'model.onnx'), model.model);
  }

  commit(tables: readonly Float32Array[], meta: CachedMeta): void {
    for (const t of tables) appendFileSync(join(this.tmp, 'text-tables.bin'), Buffer.from(t.buffer, t.byteOffset, t.byteLength));
    writeFileSync(join(this.tmp, 'meta.json'), JSON.stringify(meta));
    rmSync(this.entry.dir, { recursive: true, force: true });
    renameSync(this.tmp, this.entry.dir);
  }

  abort(): void {
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
