/**
 * `fgclip index SOURCES… --collection PATH` and `fgclip search --collection PATH`: thin adapters over
 * src/collection. Contract (--json): index → {"added","updated","removed","unchanged","total"}; search →
 * {"results": [{"path","score"[,"box"]}]}, best first, score = cosine.
 */
import { Collection } from '../../collection/collection.js';
import { indexCollection, type IndexPhase } from '../../collection/indexer.js';
import type { StorageOptions } from '../../collection/lance.js';
import { checkScheme } from '../../collection/regions.js';
import { searchCollection } from '../../collection/search.js';
import type { Filter } from '../../collection/collection.js';
import { flag, int, MODEL_OPTIONS, parse, printJson, str, strs, UsageError, withModel, type Io, type Options } from '../args.js';

export const STORAGE_OPTIONS: Options = {
  collection: { type: 'string', short: 'c' },
  'storage-option': { type: 'string', multiple: true },
};

/** `--storage-option key=value` (repeatable) → LanceDB storageOptions; also FGCLIP_STORAGE_OPTIONS as JSON. */
export function storageOptions(values: ReturnType<typeof parse>['values'], io: Io): StorageOptions | undefined {
  const out: Record<string, string> = {};
  if (io.env.FGCLIP_STORAGE_OPTIONS) {
    try {
      Object.assign(out, JSON.parse(io.env.FGCLIP_STORAGE_OPTIONS) as Record<string, string>);
    } catch {
      throw new UsageError('FGCLIP_STORAGE_OPTIONS: expected a JSON object of strings');
    }
  }
  for (const kv of strs(values, 'storage-option')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--storage-option: expected key=value (got ${JSON.stringify(kv)})`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return Object.keys(out).length ? out : undefined;
}

export function requireCollection(values: ReturnType<typeof parse>['values'], command: string): string {
  const c = str(values, 'collection');
  if (!c) throw new UsageError(`${command}: --collection PATH is required (a folder, or s3://bucket/prefix with --storage-option)`);
  return c;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/** Progress on a TTY: phase, count, rate and ETA, redrawn at most 10 times a second. */
export function rateProgress(io: Io): { update: (phase: IndexPhase | string, done: number, total: number) => void; done: () => void } {
  const s = io.stderr;
  if (!s.isTTY) return { update: () => undefined, done: () => undefined };
  let phase = '';
  let start = 0;
  let last = 0;
  let shown = false;
  return {
    update(p, done, total) {
      const now = Date.now();
      if (p !== phase) {
        if (shown) s.write('\n');
        phase = p;
        start = now;
        shown = false;
      }
      if (done < total && now - last < 100) return;
      last = now;
      shown = true;
      const rate = done / Math.max((now - start) / 1000, 1e-3);
      s.write(
        `\r\x1b[K${p === 'embed' ? 'embedding' : p === 'scan' ? 'scanning' : p} ${done}/${total}  ${rate.toFixed(1)}/s  ETA ${fmtTime((total - done) / rate)}`,
      );
    },
    done() {
      if (shown) s.write('\n');
      shown = false;
    },
  };
}

export async function indexCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('index', argv, {
    ...MODEL_OPTIONS,
    ...STORAGE_OPTIONS,
    'batch-size': { type: 'string' },
    regions: { type: 'string' },
    'index-threshold': { type: 'string' },
    queue: { type: 'string' },
    'queue-name': { type: 'string' },
    'lock-ms': { type: 'string' },
  });
  if (positionals.length === 0) throw new UsageError('index: give a folder (or image files / quoted globs) to index');
  const uri = requireCollection(values, 'index');
  const regions = str(values, 'regions');
  if (regions !== undefined) {
    try {
      checkScheme(regions);
    } catch {
      throw new UsageError(`--regions: expected grid, patches or none (got ${JSON.stringify(regions)})`);
    }
  }
  const quiet = flag(values, 'quiet');
  const progress = quiet ? undefined : rateProgress(io);
  const abort = new AbortController();
  const onSigint = () => {
    if (!abort.signal.aborted) io.stderr.write('\nfgclip: stopping after the current batch (what is written stays; rerun to complete)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const queue = str(values, 'queue');
    return await withModel(values, 'index', io, async (m) => {
      const common = {
        batchSize: int(values, 'batch-size'),
        regions: regions as ReturnType<typeof checkScheme> | undefined,
        indexThreshold: int(values, 'index-threshold'),
        modelName: str(values, 'model'),
        storageOptions: storageOptions(values, io),
        onProgress: progress?.update,
        onWarning: quiet ? undefined : (msg: string) => io.stderr.write(`fgclip: warning: ${msg}\n`),
        signal: abort.signal,
        // FGCLIP_TRACE_COMMITS=1: one stderr line per commit (the crash tests kill the process between commits)
        onCommit: io.env.FGCLIP_TRACE_COMMITS ? (w: string) => io.stderr.write(`fgclip: commit ${w}\n`) : undefined,
      };
      let embedder;
      let closeQueue: (() => Promise<void>) | undefined;
      if (queue) {
        const q = await import('../../collection/queue.js');
        const r = await q.queueEmbedder(queue, { name: str(values, 'queue-name'), lockMs: int(values, 'lock-ms') });
        embedder = r.embedder;
        closeQueue = r.close;
      }
      try {
        const r = await indexCollection(m, uri, positionals, { ...common, embedder });
        progress?.done();
        const counts = { added: r.added, updated: r.updated, removed: r.removed, unchanged: r.unchanged, total: r.total };
        if (flag(values, 'json')) printJson(io, counts);
        else
          io.stdout.write(
            `${uri}: ${r.added} added, ${r.updated} updated, ${r.removed} removed, ${r.unchanged} unchanged; ${r.total} images${r.duplicates ? ` (${r.duplicates} duplicate file(s) stored once)` : ''}${r.skipped.length ? `; ${r.skipped.length} skipped` : ''}\n`,
          );
        if (r.interrupted) {
          io.stderr.write('fgclip: interrupted; rerun the same command to complete the collection\n');
          return 130;
        }
        return 0;
      } finally {
        await closeQueue?.();
      }
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** `fgclip search --collection PATH (--text T | --image FILE) [--regions] [--top K] [filters] [--json]` */
export async function collectionSearchCommand(values: ReturnType<typeof parse>['values'], positionals: readonly string[], io: Io): Promise<number> {
  if (positionals.length > 0)
    throw new UsageError(`search: with --collection give no folder (got ${JSON.stringify(positionals[0])}); index folders with fgclip index`);
  const uri = requireCollection(values, 'search');
  const text = str(values, 'text');
  const image = str(values, 'image');
  if ((text === undefined) === (image === undefined)) throw new UsageError('search: give either --text "…" or --image FILE as the query');
  const filter: Filter = {
    path: str(values, 'path'),
    minWidth: int(values, 'min-width'),
    minHeight: int(values, 'min-height'),
    maxWidth: int(values, 'max-width'),
    maxHeight: int(values, 'max-height'),
    modifiedAfter: date(values, 'after'),
    modifiedBefore: date(values, 'before'),
  };
  const coll = await Collection.open(uri, { storageOptions: storageOptions(values, io) });
  try {
    return await withModel(values, 'search', io, async (m) => {
      const out = await searchCollection(m, coll, text !== undefined ? { text } : { image: image as string }, {
        top: int(values, 'top') ?? 10,
        regions: flag(values, 'regions'),
        filter,
        onWarning: flag(values, 'quiet') ? undefined : (msg) => io.stderr.write(`fgclip: warning: ${msg}\n`),
      });
      const results = out.results.map((r) => ({ path: r.path, score: r.score, ...(r.box ? { box: r.box.map((v) => Math.round(v * 100) / 100) } : {}) }));
      if (flag(values, 'json')) printJson(io, { results });
      else
        results.forEach((r, i) => io.stdout.write(`${String(i + 1).padStart(3)}  ${r.score.toFixed(4)}  ${r.path}${r.box ? `  [${r.box.join(', ')}]` : ''}\n`));
      return 0;
    });
  } finally {
    coll.close();
  }
}

function date(values: ReturnType<typeof parse>['values'], name: string): number | undefined {
  const s = str(values, name);
  if (s === undefined) return undefined;
  const t = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(t)) throw new UsageError(`--${name}: expected a date (2024-05-01, ISO 8601) or ms since the epoch (got ${JSON.stringify(s)})`);
  return t;
}
