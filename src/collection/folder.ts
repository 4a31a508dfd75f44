/**
 * Image search over a folder (`fgclip search DIR`), on a collection: the folder is indexed into a collection of its
 * own in the fgclip cache (`<cache>/folders/<hash of model identity, preprocessing and absolute folder>`, global
 * vectors only), then the collection is searched exactly (no ANN index: a folder search ranks every image, as
 * before). The index run is incremental: a grown folder only embeds its new content, a renamed or copied file is
 * found by content (one stored row per distinct content; every path holding it is ranked with its score), a deleted
 * file leaves the collection. kill -9 at any time leaves a consistent collection (collection.ts). Unreadable images
 * are skipped with a warning. Two searches of the same folder at once take turns (the second waits for the first's
 * index run, up to `lockWaitMs`).
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FgClipError } from '../errors.js';
import type { Encoder } from '../model/encoder.js';
import { fgclipCacheDir, type CacheSetting } from '../cache/vector-store.js';
import { FOLDER_NOTE } from '../cache/cache-admin.js';
import { sha256 } from '../cache/model-identity.js';
import type { SkippedImage } from '../tasks/images.js';
import { queryEmbedding, type SearchQuery } from '../tasks/search.js';
import { Collection, MAX_TOP } from './collection.js';
import { describeModel } from './embed.js';
import { indexCollection, type IndexReport } from './indexer.js';

export interface SearchOptions {
  /** how many results (default 10, at most 1000) */
  readonly top?: number;
  /** cache folder settings, or false: the folder's collection lives in a temporary folder removed afterwards */
  readonly cache?: CacheSetting;
  /** images decoded and embedded per step (default 16) */
  readonly batchSize?: number;
  readonly onWarning?: (message: string) => void;
  /** embedding progress: images of this run's new content done / to do */
  readonly onProgress?: (done: number, total: number) => void;
  /** how long to wait for another search indexing the same folder (default 10 minutes) */
  readonly lockWaitMs?: number;
}

export interface SearchHit {
  readonly path: string;
  /** cosine similarity of the normalized query and image vectors */
  readonly score: number;
}

export interface SearchOutput {
  /** best first; ties keep folder order */
  readonly results: SearchHit[];
  /** images ranked (readable files of the folder; copies count once per path) */
  readonly indexed: number;
  /** images the vision tower ran on in this call (the rest were already in the folder's collection) */
  readonly encoded: number;
  readonly skipped: SkippedImage[];
}

/** Where the collection of `dir` for this model lives (undefined: no disk cache). */
export async function folderCollectionPath(model: Encoder, dir: string, cache: CacheSetting = {}): Promise<string | undefined> {
  if (cache === false) return undefined;
  const d = await describeModel(model);
  return join(fgclipCacheDir(cache), 'folders', sha256(`${d.identity}\n${d.preprocess}\n${resolve(dir)}`).slice(0, 32));
}

/** Records which folder a cached folder collection belongs to (`fgclip cache` lists it; written atomically). */
function noteFolder(uri: string, folder: string): void {
  const tmp = join(uri, `${FOLDER_NOTE}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, `${JSON.stringify({ folder, lastUsed: new Date().toISOString() })}\n`);
    renameSync(tmp, join(uri, FOLDER_NOTE));
  } catch {
    rmSync(tmp, { force: true }); // a read-only cache still searches; only the listing loses the folder's name
  }
}

/** Ranks the images under `dir` (recursively) against the query by cosine. */
export async function searchImages(model: Encoder, dir: string, query: SearchQuery, opts: SearchOptions = {}): Promise<SearchOutput> {
  const top = opts.top ?? 10;
  if (!Number.isInteger(top) || top < 1) throw new FgClipError('INPUT_INVALID', `search: top must be a positive integer (got ${top})`);
  if (top > MAX_TOP) throw new FgClipError('INPUT_INVALID', `search: top must be at most ${MAX_TOP} (got ${top})`);
  const bs = opts.batchSize ?? 16;
  if (!Number.isInteger(bs) || bs < 1) throw new FgClipError('INPUT_INVALID', `search: batchSize must be a positive integer (got ${bs})`);
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(dir);
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `images folder ${dir}: cannot read it (${(e as Error).message}). Give an existing folder.`, { cause: e });
  }
  if (!st.isDirectory()) throw new FgClipError('INPUT_INVALID', `images folder ${dir}: is not a folder. Give the folder that holds the images.`);
  const q = await queryEmbedding(model, query, opts.onWarning);
  const cached = await folderCollectionPath(model, dir, opts.cache ?? {});
  const uri = cached ?? mkdtempSync(join(tmpdir(), 'fgclip-folder-'));
  try {
    const report = await indexWaiting(model, uri, dir, bs, opts);
    if (cached) noteFolder(cached, resolve(dir));
    const contents = report.contents ?? new Map<string, string>();
    const coll = await Collection.open(uri);
    try {
      const stored = new Set((await coll.entries()).map((e) => e.sha256));
      // folder order of every ranked path, by content
      const order = new Map<string, number>();
      const pathsOf = new Map<string, string[]>();
      for (const [path, sha] of contents) {
        if (!stored.has(sha)) continue;
        order.set(path, order.size);
        pathsOf.set(sha, [...(pathsOf.get(sha) ?? []), path]);
      }
      // `top` distinct contents hold at least the `top` best paths
      const hits = order.size === 0 ? [] : await coll.searchVector(q, { top: Math.min(top, stored.size) });
      const results = hits.flatMap((h) => (pathsOf.get(h.sha256) ?? []).map((path) => ({ path, score: h.score })));
      results.sort((a, b) => b.score - a.score || (order.get(a.path) as number) - (order.get(b.path) as number));
      return { results: results.slice(0, top), indexed: order.size, encoded: report.embedded, skipped: report.skipped };
    } finally {
      coll.close();
    }
  } finally {
    if (!cached) rmSync(uri, { recursive: true, force: true });
  }
}

/** The folder's index run, retried while another process holds the folder's collection (another search of it). */
async function indexWaiting(model: Encoder, uri: string, dir: string, batchSize: number, opts: SearchOptions): Promise<IndexReport> {
  const deadline = Date.now() + (opts.lockWaitMs ?? 10 * 60_000);
  for (;;) {
    try {
      return await indexCollection(model, uri, [dir], {
        batchSize,
        regions: 'none',
        // exact ranking of every image, as a folder search always did
        indexThreshold: Number.MAX_SAFE_INTEGER,
        reportContents: true,
        onWarning: opts.onWarning,
        onProgress: (phase, done, total) => {
          if (phase === 'embed') opts.onProgress?.(done, total);
        },
      });
    } catch (e) {
      if (!(e instanceof FgClipError) || e.code !== 'COLLECTION_LOCKED' || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
