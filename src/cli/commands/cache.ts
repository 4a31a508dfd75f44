/**
 * `fgclip cache [ls|clean]`: what the fgclip cache holds (compiled graphs, folder-search collections, embedding
 * stores) and removing it, all of it or what was not used for `--older-than` days. Everything in it is rebuilt on
 * demand, so cleaning costs a rebuild, never data (src/cache/cache-admin.ts).
 */
import { CACHE_KINDS, cleanCache, listCache, type CacheItem, type CacheKind } from '../../cache/cache-admin.js';
import { fgclipCacheDir } from '../../cache/vector-store.js';
import { formatBytes } from '../../hub/index.js';
import { flag, parse, printJson, str, UsageError, type Io } from '../args.js';

function kindsOf(v: string | undefined): CacheKind[] | undefined {
  if (v === undefined) return undefined;
  const ks = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = ks.filter((k) => !(CACHE_KINDS as readonly string[]).includes(k));
  if (ks.length === 0 || bad.length) throw new UsageError(`cache: --only expects some of ${CACHE_KINDS.join(',')} (got ${JSON.stringify(v)})`);
  return ks as CacheKind[];
}

function days(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new UsageError(`cache clean: --older-than expects a number of days ≥ 0 (got ${JSON.stringify(v)})`);
  return n;
}

const json = (i: CacheItem) => ({ kind: i.kind, path: i.path, bytes: i.bytes, lastUsed: i.lastUsed.toISOString(), ...(i.about ? { about: i.about } : {}) });
const line = (i: CacheItem) =>
  `${i.kind.padEnd(10)} ${formatBytes(i.bytes).padStart(9)}  ${i.lastUsed.toISOString().slice(0, 10)}  ${i.path}${i.about ? `  (${i.about})` : ''}`;

export async function cacheCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('cache', argv, {
    'cache-dir': { type: 'string' },
    only: { type: 'string' },
    'older-than': { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    help: { type: 'boolean', short: 'h' },
  });
  const action = positionals[0] ?? 'ls';
  if (!['ls', 'clean'].includes(action) || positionals.length > 1)
    throw new UsageError(`cache: expected 'ls' or 'clean' (got ${JSON.stringify(positionals.join(' '))})`);
  const dir = str(values, 'cache-dir') ?? fgclipCacheDir({ env: io.env });
  const kinds = kindsOf(str(values, 'only'));
  if (action === 'ls') {
    if (values['older-than'] !== undefined || flag(values, 'dry-run'))
      throw new UsageError('cache ls: --older-than and --dry-run belong to `fgclip cache clean`');
    const items = listCache(dir, kinds);
    const total = items.reduce((n, i) => n + i.bytes, 0);
    if (flag(values, 'json')) {
      printJson(io, { path: dir, bytes: total, entries: items.map(json) });
      return 0;
    }
    io.stdout.write(`${dir}: ${items.length} entr${items.length === 1 ? 'y' : 'ies'}, ${formatBytes(total)}\n`);
    for (const i of items) io.stdout.write(`${line(i)}\n`);
    return 0;
  }
  const r = cleanCache(dir, { olderThanDays: days(str(values, 'older-than')), kinds, dryRun: flag(values, 'dry-run') });
  if (flag(values, 'json')) {
    printJson(io, { path: dir, dryRun: flag(values, 'dry-run'), removed: r.removed.map(json), freedBytes: r.freedBytes, kept: r.kept, skipped: r.skipped });
    return 0;
  }
  const verb = flag(values, 'dry-run') ? 'would remove' : 'removed';
  for (const i of r.removed) io.stdout.write(`${verb} ${line(i)}\n`);
  for (const s of r.skipped) io.stderr.write(`fgclip: skipped ${s.path}: ${s.reason}\n`);
  io.stdout.write(`${verb} ${r.removed.length} entr${r.removed.length === 1 ? 'y' : 'ies'} (${formatBytes(r.freedBytes)}); kept ${r.kept}\n`);
  return 0;
}
