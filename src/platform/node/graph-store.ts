/** The graph cache storage port (src/platform/ports.ts `GraphStore`) on Node: a folder per entry (src/cache/graph-cache.ts). */
import { graphCacheEntry, readCached, Staging, type GraphCacheEntry } from '../../cache/graph-cache.js';
import type { GraphSource, GraphStaging, GraphStore, GraphStoreEntry } from '../ports.js';

const sources = (e: GraphCacheEntry, S: number): { text: GraphSource; vision: GraphSource } => ({
  text: { file: e.textModel },
  vision: { file: e.visionModel(S) },
});

/** The graph store of the checkpoint folder `modelDir`, under `cacheDir` (default: the fgclip cache folder). */
export function nodeGraphStore(modelDir: string, cacheDir?: string): GraphStore {
  return {
    async entry(parts): Promise<GraphStoreEntry> {
      const e = await graphCacheEntry(modelDir, parts, cacheDir);
      const S = parts.imageSize;
      return {
        location: e.dir,
        async read(warn) {
          const hit = await readCached(e, S, warn);
          return hit && { ...hit, ...sources(e, S) };
        },
        async stage(): Promise<GraphStaging | undefined> {
          const staging = Staging.start(e);
          return (
            staging && {
              sink: (part) => staging.sink(part),
              writeModel: (part, model) => staging.writeModel(part, model),
              commit: async (tables, meta) => sources(await staging.commit(tables, meta), S),
              release: () => staging.release(),
              abort: () => staging.abort(),
            }
          );
        },
      };
    },
  };
}
