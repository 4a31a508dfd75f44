/**
 * An index run: bring a collection in line with the files of a scope (folders, files, globs).
 *
 * 1. plan: stat every file; a file whose path, size and mtime match a stored image keeps that image's hash,
 *    others are hashed (sha256 of the bytes). Content already stored under a path that no longer holds it is a
 *    move (path update); content not stored is embedded; stored content no file in the scope has is removed.
 * 2. embed new content in batches, each batch committed (regions, then images) before the next;
 * 3. path updates; 4. removals (logged in the meta table first, so a killed run's removals finish on the next);
 * 5. compaction and the ANN index when the collection is large enough.
 * kill -9 at any point leaves a consistent collection (see collection.ts) and the rerun completes it.
 * One writer at a time: the run holds the collection's lock (lock.ts).
 */
import { readFile, stat } from 'node:fs/promises';
import { FgClipError } from '../errors.js';
import type { Encoder } from '../model/encoder.js';
import { sha256 } from '../cache/model-identity.js';
import type { SkippedImage } from '../tasks/images.js';
import { Collection, type CollectionModel, type CreateOptions, type Entry, type ImageRecord } from './collection.js';
import type { RegionScheme } from './regions.js';
import { describeModel, embedFiles, loadFiles, type FileJob } from './embed.js';
import { expandSources, type Scope } from './sources.js';

export interface IndexReport {
  /** images whose path was not in the collection */
  readonly added: number;
  /** stored paths whose content changed, or stored contents that moved to another path */
  readonly updated: number;
  /** stored images whose file is gone */
  readonly removed: number;
  readonly unchanged: number;
  /** images in the collection after the run */
  readonly total: number;
  /** files with the same content as another file (stored once, under one path) */
  readonly duplicates: number;
  readonly skipped: SkippedImage[];
  /** whether the run stopped early (signal) */
  readonly interrupted: boolean;
  /** images the model embedded in this run (the rest were already stored, by content) */
  readonly embedded: number;
  /** with `reportContents`: the sha256 of every readable file of the scope, by path (copies share a hash) */
  readonly contents?: ReadonlyMap<string, string>;
}

export type IndexPhase = 'scan' | 'embed' | 'write';

/** Where new content is embedded: in this process (default) or by remote workers (queue.ts). */
export interface Embedder {
  run(
    jobs: readonly FileJob[],
    write: (records: ImageRecord[]) => Promise<void>,
    ctx: { signal?: AbortSignal; onProgress?: (done: number) => void; onSkipped: (s: SkippedImage) => void },
  ): Promise<void>;
}

export interface IndexOptions extends CreateOptions {
  /** images per model call and per commit (default 32) */
  readonly batchSize?: number;
  /** rows from which the IVF_RQ index is built (default DEFAULT_INDEX_THRESHOLD) */
  readonly indexThreshold?: number;
  /** name stored with a new collection (default: the model folder) */
  readonly modelName?: string;
  readonly onProgress?: (phase: IndexPhase, done: number, total: number) => void;
  readonly onWarning?: (message: string) => void;
  /** stop after the current batch; what is committed stays */
  readonly signal?: AbortSignal;
  /** called after each commit to the collection (tracing, tests that kill a run between commits) */
  readonly onCommit?: (what: string) => void;
  /** return every scanned file's content hash in the report (`contents`; folder search maps hits back to copies) */
  readonly reportContents?: boolean;
  /** embed elsewhere (job queue, queue.ts); default: in this process with `model` */
  readonly embedder?: (model: CollectionModel, regions: RegionScheme) => Embedder;
}

export interface Plan {
  readonly embed: FileJob[];
  readonly moves: Entry[];
  readonly remove: string[];
  readonly unchanged: number;
  readonly duplicates: number;
  /** sha stored per path before the run (to tell added from updated) */
  readonly previous: ReadonlyMap<string, string>;
  readonly removedPaths: number;
  /** sha of every readable file, by path */
  readonly contents: ReadonlyMap<string, string>;
}

interface FileStat {
  readonly path: string;
  readonly bytes: number;
  readonly mtime: number;
}

/** Reconciles files with stored entries; `hash` reads a file's sha256 (undefined: unreadable, skipped). */
export async function planIndex(
  files: readonly FileStat[],
  entries: readonly Entry[],
  scope: Scope['contains'],
  hash: (path: string) => Promise<string | undefined>,
  onHashed?: (n: number) => void,
): Promise<Plan> {
  const byPath = new Map<string, Entry[]>();
  for (const e of entries) byPath.set(e.path, [...(byPath.get(e.path) ?? []), e]);
  const bySha = new Map(entries.map((e) => [e.sha256, e]));
  const current = new Map<string, FileStat[]>(); // sha → files holding it now
  const shaOf = new Map<string, string>();
  let n = 0;
  for (const f of files) {
    const known = byPath.get(f.path)?.find((e) => e.bytes === f.bytes && e.mtime === f.mtime);
    const sha = known ? known.sha256 : await hash(f.path);
    onHashed?.(++n);
    if (sha === undefined) continue;
    shaOf.set(f.path, sha);
    current.set(sha, [...(current.get(sha) ?? []), f]);
  }
  const embed: FileJob[] = [];
  const moves: Entry[] = [];
  let unchanged = 0;
  let duplicates = 0;
  for (const [sha, holders] of current) {
    const stored = bySha.get(sha);
    duplicates += holders.length - 1;
    if (!stored) {
      const f = holders[0];
      embed.push({ path: f.path, sha256: sha, bytes: f.bytes, mtime: f.mtime });
      continue;
    }
    const same = holders.find((h) => h.path === stored.path);
    if (same) {
      if (same.bytes !== stored.bytes || same.mtime !== stored.mtime) moves.push({ sha256: sha, path: same.path, bytes: same.bytes, mtime: same.mtime });
      unchanged++;
    } else if (!scope(stored.path) && (await exists(stored.path))) {
      // stored under a path outside this run's scope that still exists: these files are copies of it
      duplicates++;
    } else {
      const f = holders[0];
      moves.push({ sha256: sha, path: f.path, bytes: f.bytes, mtime: f.mtime });
    }
  }
  const remove: string[] = [];
  let removedPaths = 0;
  for (const e of entries) {
    if (!scope(e.path) || current.has(e.sha256)) continue;
    remove.push(e.sha256);
    if (!shaOf.has(e.path)) removedPaths++;
  }
  const previous = new Map<string, string>();
  for (const e of entries) previous.set(e.path, e.sha256);
  return { embed, moves, remove, unchanged, duplicates, previous, removedPaths, contents: shaOf };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** In-process embedding: files are read (and re-hashed) in the batch after next while the model runs. */
export function localEmbedder(model: Encoder, batchSize: number, scheme: RegionScheme): Embedder {
  return {
    async run(jobs, write, ctx) {
      const batches: FileJob[][] = [];
      for (let s = 0; s < jobs.length; s += batchSize) batches.push(jobs.slice(s, s + batchSize));
      let next = batches.length ? loadFiles(batches[0].map((j) => j.path)) : undefined;
      let writing: Promise<void> = Promise.resolve();
      let done = 0;
      for (let b = 0; b < batches.length; b++) {
        if (ctx.signal?.aborted) break;
        const loaded = await (next as ReturnType<typeof loadFiles>);
        next = b + 1 < batches.length ? loadFiles(batches[b + 1].map((j) => j.path)) : undefined;
        loaded.skipped.forEach(ctx.onSkipped);
        const { records, skipped } = await embedFiles(model, loaded.files, scheme);
        skipped.forEach(ctx.onSkipped);
        await writing; // one commit in flight at a time, overlapping the next batch's inference
        writing = write(records);
        done += batches[b].length;
        ctx.onProgress?.(done);
      }
      await next?.catch(() => undefined);
      await writing;
    },
  };
}

/** Indexes `sources` (folders, image files, globs) into the collection at `uri` (created for `model` if missing). */
export async function indexCollection(model: Encoder, uri: string, sources: readonly string[], opts: IndexOptions = {}): Promise<IndexReport> {
  const bs = opts.batchSize ?? 32;
  if (!Number.isInteger(bs) || bs < 1) throw new FgClipError('INPUT_INVALID', `index: batchSize must be a positive integer (got ${bs})`);
  const described = await describeModel(model, opts.modelName);
  const scope = await expandSources(sources);
  const lock = Collection.lock(uri, `fgclip index (${sources.join(' ')})`);
  let coll: Collection | undefined;
  try {
    coll = await Collection.openOrCreate(uri, described, opts);
    coll.checkModel(described);
    await coll.finishPendingRemoval();
    const stats: FileStat[] = [];
    const skipped: SkippedImage[] = [];
    const skip = (s: SkippedImage) => {
      skipped.push(s);
      opts.onWarning?.(`skipping ${s.image}: ${s.message}`);
    };
    for (const [i, p] of scope.files.entries()) {
      try {
        const st = await stat(p);
        stats.push({ path: p, bytes: st.size, mtime: st.mtimeMs });
      } catch (e) {
        skip({ image: p, index: i, code: 'IMAGE_DECODE', message: `cannot read the file (${(e as Error).message})` });
      }
    }
    const plan = await planIndex(
      stats,
      await coll.entries(),
      scope.contains,
      async (p) => {
        try {
          return sha256(await readFile(p));
        } catch (e) {
          skip({ image: p, index: -1, code: 'IMAGE_DECODE', message: `cannot read the file (${(e as Error).message})` });
          return undefined;
        }
      },
      (n) => opts.onProgress?.('scan', n, stats.length),
    );
    let added = 0;
    let embedded = 0;
    let updated = plan.moves.filter((m) => plan.previous.get(m.path) !== m.sha256).length;
    const embedder = opts.embedder ? opts.embedder(described, coll.info.regions) : localEmbedder(model, bs, coll.info.regions);
    const c = coll;
    await embedder.run(
      plan.embed,
      async (records) => {
        await c.upsert(records);
        opts.onCommit?.(`upsert ${records.length}`);
        embedded += records.length;
        for (const r of records) {
          if (plan.previous.has(r.path)) updated++;
          else added++;
        }
      },
      { signal: opts.signal, onProgress: (d) => opts.onProgress?.('embed', d, plan.embed.length), onSkipped: skip },
    );
    const interrupted = opts.signal?.aborted ?? false;
    if (!interrupted) {
      opts.onProgress?.('write', 0, 1);
      for (let s = 0; s < plan.moves.length; s += 1000) {
        await coll.updateEntries(plan.moves.slice(s, s + 1000));
        opts.onCommit?.('moves');
      }
      await coll.remove(plan.remove, opts.onCommit);
      await coll.optimize({ threshold: opts.indexThreshold });
      opts.onCommit?.('optimize');
      opts.onProgress?.('write', 1, 1);
    }
    return {
      added,
      updated,
      removed: interrupted ? 0 : plan.removedPaths,
      unchanged: plan.unchanged,
      total: await coll.images.countRows(),
      duplicates: plan.duplicates,
      skipped,
      interrupted,
      embedded,
      ...(opts.reportContents ? { contents: plan.contents } : {}),
    };
  } finally {
    coll?.close();
    lock.release();
  }
}
