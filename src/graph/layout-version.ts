/**
 * The layout version of the graphs this project builds: part of every graph-cache key and manifest, so a cached
 * graph built by an older builder is rebuilt, never misread. Bump it whenever the graphs built from the same weights
 * change (node or initializer names, folds, inputs, outputs).
 */
export const GRAPH_LAYOUT_VERSION = 7;

/**
 * Whether a graph-cache entry's recorded facts are well formed: its file list (each `{ path, size, sha256 }`) and
 * its meta (`GraphCacheMeta` of src/platform/ports.ts, built by this layout version). The Node cache
 * (src/cache/graph-cache.ts) and the browser's (src/platform/browser/graph-store.ts) check both before they trust an
 * entry; a path must also be a plain file name where `plainNames` says so.
 */
export function isGraphCacheRecord(files: unknown, meta: unknown, plainNames = false): boolean {
  if (!Array.isArray(files)) return false;
  const fileOk = (f: unknown): boolean => {
    const x = f as { path?: unknown; size?: unknown; sha256?: unknown } | null;
    return (
      typeof x === 'object' &&
      x !== null &&
      typeof x.path === 'string' &&
      (!plainNames || /^[\w.-]+$/.test(x.path)) &&
      Number.isSafeInteger(x.size) &&
      (x.size as number) >= 0 &&
      typeof x.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(x.sha256)
    );
  };
  const m = meta as { version?: unknown; logitScaleLog?: unknown; unknownTensors?: unknown; tableSizes?: unknown } | null;
  return (
    files.every(fileOk) &&
    typeof m === 'object' &&
    m !== null &&
    m.version === GRAPH_LAYOUT_VERSION &&
    Number.isFinite(m.logitScaleLog) &&
    Array.isArray(m.unknownTensors) &&
    Array.isArray(m.tableSizes) &&
    m.tableSizes.length === 2 &&
    m.tableSizes.every((n) => Number.isSafeInteger(n) && n >= 0)
  );
}
