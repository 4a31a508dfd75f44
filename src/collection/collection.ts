/**
 * A collection: one model's image vectors in a LanceDB database (a local folder, or a prefix on S3-compatible
 * storage), persistent and incremental. Tables:
 * - `images`: one row per distinct image content (key: sha256 of the file's bytes) with its path, size in pixels,
 *   file size, mtime and the L2-normalized global embedding;
 * - `regions`: one row per stored region box (see regions.ts) with its box in original pixels and its vector;
 * - `meta`: the model the vectors come from (content identity of its files + preprocessing fingerprint), the
 *   vector size and the region scheme. A collection holds one model's vectors: any other model is refused.
 *
 * Crash safety rests on two facts: every LanceDB write is one atomic commit (kill -9 leaves the previous or the next
 * version), and writes are ordered so that each committed state is consistent: an image's regions are committed
 * before its image row (so an image row always has its regions), removals drop the image row before its regions
 * (orphan regions are invisible to queries, which join on images, and are swept by the next run). Every write is an
 * idempotent upsert on the content hash, so replays (reruns, at-least-once job delivery) never duplicate.
 *
 * Search: cosine similarity of normalized vectors (LanceDB's dot distance, score = 1 − distance). Exact (flat) below
 * `indexThreshold` rows; above it an IVF_RQ index, refined with exact distances on the candidates, so the reported
 * scores are exact cosines even when the index is used.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { fgclipCacheDir } from '../cache/vector-store.js';
import { sha256 } from '../cache/model-identity.js';
import type { VectorQuery } from '@lancedb/lancedb';
import {
  arrow,
  connect,
  globToLike,
  IMAGES,
  imagesSchema,
  isRemote,
  lancedb,
  META,
  metaSchema,
  REGIONS,
  regionsSchema,
  sqlString,
  type Connection,
  type StorageOptions,
  type Table,
} from './lance.js';
import { WriterLock } from './lock.js';
import { checkScheme, type RegionScheme } from './regions.js';

/** What a collection stores about its model; a query or an index run with a different model is refused. */
export interface CollectionModel {
  /** the model as it was named when the collection was created (folder or Hub id), for messages */
  readonly name: string;
  /** sha256 over the model's files (tasks/model-identity.ts) */
  readonly identity: string;
  /** sha256 of the model's preprocessing of a fixed image (resolution, squash/crop, mean/std, orientation) */
  readonly preprocess: string;
  readonly dim: number;
  readonly imageSize: number;
  readonly grid: number;
}

export interface CollectionInfo extends CollectionModel {
  readonly format: 1;
  readonly regions: RegionScheme;
  readonly created: string;
}

export interface OpenOptions {
  /** S3-compatible storage settings for `s3://…` collections (endpoint, allow_http, aws_access_key_id, …) */
  readonly storageOptions?: StorageOptions;
  /** seconds between checks for other processes' new versions when reading (default 1; 0 checks on every read) */
  readonly readConsistencySeconds?: number;
}

export interface CreateOptions extends OpenOptions {
  /** region vectors stored per image (default 'grid') */
  readonly regions?: RegionScheme;
}

/** One image as it is stored: global vector, size, and its region vectors with boxes in original pixels. */
export interface ImageRecord {
  readonly sha256: string;
  readonly path: string;
  readonly width: number;
  readonly height: number;
  /** file size in bytes */
  readonly bytes: number;
  /** file modification time, ms since the epoch */
  readonly mtime: number;
  readonly vector: Float32Array;
  readonly regions: readonly { readonly box: readonly [number, number, number, number]; readonly vector: Float32Array }[];
}

/** An image row without its vector: what reconciliation compares with the files. */
export interface Entry {
  readonly sha256: string;
  readonly path: string;
  readonly bytes: number;
  readonly mtime: number;
}

export interface Filter {
  /** shell-style pattern on the stored path (`*` any run of characters including `/`, `?` one character) */
  readonly path?: string;
  readonly minWidth?: number;
  readonly maxWidth?: number;
  readonly minHeight?: number;
  readonly maxHeight?: number;
  /** file modified at or after / before this time (Date or ms since the epoch) */
  readonly modifiedAfter?: Date | number;
  readonly modifiedBefore?: Date | number;
}

export interface VectorSearchOptions {
  /** results wanted (default 10, at most 1000) */
  readonly top?: number;
  readonly filter?: Filter;
  /** IVF partitions probed when the index is used (default 32) */
  readonly nprobes?: number;
  /** candidates re-scored exactly per result when the index is used (default: 10 below 300k rows, 50 above: at 1M rows
   * refine 30 gave recall@10 0.943, 50 gave 0.986 at p50 8.6 ms; BENCHMARKS.md "Collections") */
  readonly refineFactor?: number;
}

export interface CollectionHit {
  readonly path: string;
  /** cosine similarity of the normalized query and image (or region) vectors, in [-1, 1] */
  readonly score: number;
  readonly sha256: string;
  readonly width: number;
  readonly height: number;
  readonly mtime: number;
  /** region queries: the best-matching stored box, [x1, y1, x2, y2] in original-image pixels */
  readonly box?: [number, number, number, number];
}

export interface CollectionStats {
  readonly uri: string;
  readonly model: CollectionModel;
  readonly regionScheme: RegionScheme;
  readonly images: number;
  readonly regions: number;
  /** whether an ANN index (IVF_RQ) serves each table's searches; below the threshold searches are exact */
  readonly indexed: { readonly images: boolean; readonly regions: boolean };
  readonly version: number;
}

/** Rows from which an IVF_RQ index is built (below: exact search). Measured: see BENCHMARKS.md "Collections". */
export const DEFAULT_INDEX_THRESHOLD = 20_000;
/** Most results one search returns. */
export const MAX_TOP = 1000;

export class Collection {
  private readonly factCache = new Map<Table, { at: number; indexed: boolean; rows: number }>();

  private constructor(
    readonly uri: string,
    readonly info: CollectionInfo,
    private readonly db: Connection,
    readonly images: Table,
    readonly regionTable: Table,
    private readonly meta: Table,
  ) {}

  /** Opens an existing collection (COLLECTION_INVALID when there is none at `uri`). */
  static async open(uri: string, opts: OpenOptions = {}): Promise<Collection> {
    if (!isRemote(uri) && !existsSync(join(uri, `${META}.lance`)))
      throw new FgClipError('COLLECTION_INVALID', `collection ${uri}: there is no collection here (create it with fgclip index DIR --collection ${uri})`);
    const db = await connect(uri, opts.storageOptions, opts.readConsistencySeconds ?? 1);
    // openTable, not tableNames(): listing is not available on every S3-compatible store (s3rver returns none)
    let meta: Table;
    try {
      meta = await db.openTable(META);
    } catch (e) {
      db.close();
      throw new FgClipError('COLLECTION_INVALID', `collection ${uri}: there is no collection here (create it with fgclip index DIR --collection ${uri})`, {
        cause: e,
      });
    }
    let info: CollectionInfo;
    try {
      info = await readInfo(meta, uri);
    } catch (e) {
      meta.close();
      db.close();
      throw e;
    }
    const [images, regions] = await Promise.all([openOrCreate(db, IMAGES, imagesSchema(info.dim)), openOrCreate(db, REGIONS, regionsSchema(info.dim))]);
    return new Collection(uri, info, db, images, regions, meta);
  }

  /**
   * Opens the collection at `uri`, creating it for `model` when there is none. The caller holds the writer lock
   * (creation is not safe against a concurrent creator otherwise).
   */
  static async openOrCreate(uri: string, model: CollectionModel, opts: CreateOptions = {}): Promise<Collection> {
    if (!isRemote(uri)) mkdirSync(uri, { recursive: true });
    try {
      return await Collection.open(uri, opts);
    } catch (e) {
      if (!(e instanceof FgClipError) || !/no collection here/.test(e.message)) throw e;
    }
    const db = await connect(uri, opts.storageOptions, opts.readConsistencySeconds ?? 1);
    try {
      const info: CollectionInfo = { format: 1, ...model, regions: checkScheme(opts.regions ?? 'grid'), created: new Date().toISOString() };
      // the data tables first, the meta row last: a collection exists once its meta row is committed
      await openOrCreate(db, IMAGES, imagesSchema(info.dim));
      await openOrCreate(db, REGIONS, regionsSchema(info.dim));
      const meta = await openOrCreate(db, META, metaSchema());
      await meta
        .mergeInsert('key')
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute([{ key: 'collection', json: JSON.stringify(info) }]);
    } finally {
      db.close();
    }
    return Collection.open(uri, opts);
  }

  /** The writer lock for this collection (a file in the folder; for remote storage, one in the local fgclip cache). */
  static lockPath(uri: string): string {
    if (!isRemote(uri)) {
      mkdirSync(uri, { recursive: true });
      return join(uri, '.fgclip-writer.lock');
    }
    const dir = join(fgclipCacheDir(), 'collection-locks');
    mkdirSync(dir, { recursive: true });
    return join(dir, `${sha256(uri).slice(0, 32)}.lock`);
  }

  static lock(uri: string, what: string): WriterLock {
    return WriterLock.acquire(Collection.lockPath(uri), what);
  }

  /** Throws COLLECTION_MODEL_MISMATCH unless `model` is the collection's model. */
  checkModel(model: CollectionModel): void {
    const i = this.info;
    if (model.identity !== i.identity || model.dim !== i.dim) {
      throw new FgClipError(
        'COLLECTION_MODEL_MISMATCH',
        `collection ${this.uri} holds vectors of model ${i.name} (${i.dim}-d, id ${i.identity.slice(0, 12)}); the query used model ${model.name} (${model.dim}-d, id ${model.identity.slice(0, 12)}). Use the collection's model, or index into a new collection`,
      );
    }
    if (model.preprocess !== i.preprocess) {
      throw new FgClipError(
        'COLLECTION_MODEL_MISMATCH',
        `collection ${this.uri} was built with model ${i.name} preprocessing images differently (resolution, --preprocess or --auto-orient differ); load the model with the same options`,
      );
    }
  }

  // ---- writes (one writer: hold the lock) ----------------------------------------------------------------------

  /** Inserts or replaces images (by sha256) with their regions; idempotent. Regions are committed first. */
  async upsert(records: readonly ImageRecord[]): Promise<void> {
    this.factCache.clear();
    if (records.length === 0) return;
    for (const r of records) {
      if (r.vector.length !== this.info.dim)
        throw new FgClipError('COLLECTION_INVALID', `collection ${this.uri}: a ${r.vector.length}-d vector for a ${this.info.dim}-d collection`);
    }
    const regionRows = records.flatMap((r) =>
      r.regions.map((g, k) => ({ rid: `${r.sha256}:${k}`, sha256: r.sha256, x1: g.box[0], y1: g.box[1], x2: g.box[2], y2: g.box[3], vector: g.vector })),
    );
    if (regionRows.length > 0)
      await this.regionTable
        .mergeInsert('rid')
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute(toTable(regionRows, this.regionTable, this.info.dim));
    const rows = records.map((r) => ({ sha256: r.sha256, path: r.path, width: r.width, height: r.height, bytes: r.bytes, mtime: r.mtime, vector: r.vector }));
    await this.images
      .mergeInsert('sha256')
      .whenMatchedUpdateAll()
      .whenNotMatchedInsertAll()
      .execute(toTable(rows, this.images, this.info.dim));
  }

  /** Sets the path, file size and mtime of stored images (moves, touched files); one commit per call. */
  async updateEntries(entries: readonly Entry[]): Promise<void> {
    this.factCache.clear();
    if (entries.length === 0) return;
    // an update per row is one commit each; a merge of scalar columns only is one commit for all
    const known = new Map(
      (
        await this.fetchRows(
          entries.map((e) => e.sha256),
          ['sha256', 'width', 'height', 'vector'],
        )
      ).map((r) => [r.sha256 as string, r]),
    );
    const rows = entries
      .filter((e) => known.has(e.sha256))
      .map((e) => {
        const r = known.get(e.sha256) as Record<string, unknown>;
        return {
          sha256: e.sha256,
          path: e.path,
          width: r.width as number,
          height: r.height as number,
          bytes: e.bytes,
          mtime: e.mtime,
          vector: toF32(r.vector),
        };
      });
    if (rows.length > 0)
      await this.images
        .mergeInsert('sha256')
        .whenMatchedUpdateAll()
        .execute(toTable(rows, this.images, this.info.dim));
  }

  /**
   * Removes images, then their regions, by content hash. The list is logged in the meta table first: a writer
   * killed between the two deletes leaves orphan regions (invisible: queries join on images) that
   * `finishPendingRemoval` deletes on the next run.
   */
  async remove(shas: readonly string[], onCommit?: (what: string) => void): Promise<void> {
    if (shas.length === 0) return;
    await this.writeMeta('pending-removal', shas);
    await this.deleteShas(shas, onCommit);
    await this.writeMeta('pending-removal', []);
  }

  /** Completes the removal a killed writer logged (no-op when none). */
  async finishPendingRemoval(): Promise<void> {
    const pending = (await this.readMeta('pending-removal')) as string[] | undefined;
    if (pending && pending.length > 0) await this.remove(pending);
  }

  private async deleteShas(shas: readonly string[], onCommit?: (what: string) => void): Promise<void> {
    this.factCache.clear();
    for (const [name, table] of [
      ['images', this.images],
      ['regions', this.regionTable],
    ] as const) {
      for (let s = 0; s < shas.length; s += 500)
        await table.delete(
          `sha256 IN (${shas
            .slice(s, s + 500)
            .map(sqlString)
            .join(', ')})`,
        );
      onCommit?.(`remove ${name}`);
    }
  }

  /** Deletes region rows whose image row is gone (left by a run killed between the two deletes). */
  async sweepOrphanRegions(): Promise<number> {
    this.factCache.clear();
    const have = new Set((await this.images.query().select(['sha256']).toArray()).map((r) => r.sha256 as string));
    const orphans = new Set<string>();
    for (const r of await this.regionTable.query().select(['sha256']).toArray()) if (!have.has(r.sha256 as string)) orphans.add(r.sha256 as string);
    const list = [...orphans];
    for (let s = 0; s < list.length; s += 500)
      await this.regionTable.delete(
        `sha256 IN (${list
          .slice(s, s + 500)
          .map(sqlString)
          .join(', ')})`,
      );
    return list.length;
  }

  /**
   * Compacts small commits, drops versions older than `keepVersionsMs` (default 10 min, so readers on an older
   * version finish), and builds or refreshes the IVF_RQ indexes of tables with at least `threshold` rows.
   */
  async optimize(opts: { threshold?: number; keepVersionsMs?: number } = {}): Promise<void> {
    this.factCache.clear();
    const threshold = opts.threshold ?? DEFAULT_INDEX_THRESHOLD;
    for (const [name, table] of [
      ['images', this.images],
      ['regions', this.regionTable],
    ] as const) {
      await table.optimize({ cleanupOlderThan: new Date(Date.now() - (opts.keepVersionsMs ?? 10 * 60_000)) });
      const rows = await table.countRows();
      const builtAt = (await this.readMeta(`index:${name}`)) as number | undefined;
      const hasIndex = (await table.listIndices()).some((i) => i.columns.includes('vector'));
      if (rows < threshold) continue;
      // (re)train the partitions when the table has doubled since the index was built; otherwise optimize() has
      // already added the new rows to the existing index
      if (!hasIndex || builtAt === undefined || rows > 2 * builtAt) {
        await table.createIndex('vector', {
          config: lancedb.Index.ivfRq({ distanceType: 'dot', numPartitions: Math.max(1, Math.round(Math.sqrt(rows))) }),
          replace: true,
        });
        await this.writeMeta(`index:${name}`, rows);
      }
    }
  }

  // ---- reads ---------------------------------------------------------------------------------------------------

  /** Every stored image without its vector (for reconciliation with the files). */
  async entries(): Promise<Entry[]> {
    const rows = await this.images.query().select(['sha256', 'path', 'bytes', 'mtime']).toArray();
    return rows.map((r) => ({ sha256: r.sha256 as string, path: r.path as string, bytes: Number(r.bytes), mtime: Number(r.mtime) }));
  }

  async stats(): Promise<CollectionStats> {
    const [images, regions, ii, ri, version] = await Promise.all([
      this.images.countRows(),
      this.regionTable.countRows(),
      this.images.listIndices(),
      this.regionTable.listIndices(),
      this.images.version(),
    ]);
    const { format: _f, regions: scheme, created: _c, ...model } = this.info;
    return {
      uri: this.uri,
      model,
      regionScheme: scheme,
      images,
      regions,
      indexed: { images: ii.some((i) => i.columns.includes('vector')), regions: ri.some((i) => i.columns.includes('vector')) },
      version,
    };
  }

  /** Images nearest to a normalized query vector, best first; scores are cosines. */
  async searchVector(query: Float32Array, opts: VectorSearchOptions = {}): Promise<CollectionHit[]> {
    const top = checkTop(opts.top);
    this.checkQuery(query);
    const where = filterSql(opts.filter);
    let q = this.images.vectorSearch(query).distanceType('dot').limit(top).select(['sha256', 'path', 'width', 'height', 'mtime', '_distance']);
    q = await this.tune(q, this.images, opts);
    if (where) q = q.where(where);
    const rows = await q.toArray();
    return rows.map((r) => hit(r));
  }

  /**
   * Images holding a region nearest to the query, best first, each with its best box (pixels). Regions are searched
   * first; their images are joined (orphans of an interrupted removal drop out) and filtered; when filters or
   * several regions per image leave fewer than `top` images, the region search widens until it has enough.
   */
  async searchRegionsVector(query: Float32Array, opts: VectorSearchOptions = {}): Promise<CollectionHit[]> {
    const top = checkTop(opts.top);
    this.checkQuery(query);
    if (this.info.regions === 'none') throw new FgClipError('INPUT_INVALID', `collection ${this.uri} stores no region vectors (created with regions: none)`);
    const total = (await this.facts(this.regionTable)).rows;
    const where = filterSql(opts.filter);
    const best = new Map<string, CollectionHit>();
    for (let want = top * 8; ; want *= 8) {
      let q = this.regionTable
        .vectorSearch(query)
        .distanceType('dot')
        .limit(Math.min(want, Math.max(total, 1)))
        .select(['sha256', 'x1', 'y1', 'x2', 'y2', '_distance']);
      q = await this.tune(q, this.regionTable, opts);
      const regions = await q.toArray();
      const shas = [...new Set(regions.map((r) => r.sha256 as string))].filter((s) => !best.has(s));
      const images = new Map((await this.fetchRows(shas, ['sha256', 'path', 'width', 'height', 'mtime'], where)).map((r) => [r.sha256 as string, r]));
      for (const r of regions) {
        const sha = r.sha256 as string;
        const img = images.get(sha);
        if (!img || best.has(sha)) continue;
        best.set(sha, { ...hit({ ...img, _distance: r._distance }), box: [Number(r.x1), Number(r.y1), Number(r.x2), Number(r.y2)] });
      }
      if (best.size >= top || want >= total) break;
    }
    return [...best.values()].sort((a, b) => b.score - a.score).slice(0, top);
  }

  /** Stored images matching a filter (no ranking), in path order. */
  async list(filter: Filter = {}, limit = MAX_TOP): Promise<Omit<CollectionHit, 'score'>[]> {
    const where = filterSql(filter);
    let q = this.images.query().select(['sha256', 'path', 'width', 'height', 'mtime']).limit(limit);
    if (where) q = q.where(where);
    return (await q.toArray())
      .map((r) => ({ sha256: r.sha256 as string, path: r.path as string, width: Number(r.width), height: Number(r.height), mtime: Number(r.mtime) }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  close(): void {
    this.images.close();
    this.regionTable.close();
    this.meta.close();
    this.db.close();
  }

  // ---- internals -----------------------------------------------------------------------------------------------

  private checkQuery(q: Float32Array): void {
    if (!(q instanceof Float32Array) || q.length !== this.info.dim)
      throw new FgClipError('INPUT_INVALID', `collection ${this.uri}: the query vector has ${q?.length} dims (expected ${this.info.dim})`);
  }

  private async tune<Q extends VectorQuery>(q: Q, table: Table, opts: VectorSearchOptions): Promise<Q> {
    const { indexed, rows } = await this.facts(table);
    if (!indexed) return q;
    return q.nprobes(opts.nprobes ?? 32).refineFactor(opts.refineFactor ?? (rows > 300_000 ? 50 : 10)) as Q;
  }

  /**
   * Row count and whether the vector index exists, re-read at most once a second (the reader's consistency interval):
   * two metadata reads per query were a measurable part of an indexed query's latency.
   */
  private async facts(table: Table): Promise<{ indexed: boolean; rows: number }> {
    const now = Date.now();
    let f = this.factCache.get(table);
    if (!f || now - f.at > 1000) {
      const [ix, rows] = await Promise.all([table.listIndices(), table.countRows()]);
      f = { at: now, indexed: ix.some((i) => i.columns.includes('vector')), rows };
      this.factCache.set(table, f);
    }
    return f;
  }

  private async fetchRows(shas: readonly string[], columns: string[], where?: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (let s = 0; s < shas.length; s += 500) {
      const cond = `sha256 IN (${shas
        .slice(s, s + 500)
        .map(sqlString)
        .join(', ')})`;
      out.push(
        ...(await this.images
          .query()
          .where(where ? `(${cond}) AND (${where})` : cond)
          .select(columns)
          .toArray()),
      );
    }
    return out;
  }

  private async readMeta(key: string): Promise<unknown> {
    const rows = await this.meta
      .query()
      .where(`key = ${sqlString(key)}`)
      .toArray();
    return rows.length ? JSON.parse(rows[0].json as string) : undefined;
  }

  private async writeMeta(key: string, value: unknown): Promise<void> {
    await this.meta
      .mergeInsert('key')
      .whenMatchedUpdateAll()
      .whenNotMatchedInsertAll()
      .execute([{ key, json: JSON.stringify(value) }]);
  }
}

async function openOrCreate(db: Connection, name: string, schema: InstanceType<typeof arrow.Schema>): Promise<Table> {
  return db.createEmptyTable(name, schema, { existOk: true });
}

async function readInfo(meta: Table, uri: string): Promise<CollectionInfo> {
  const rows = await meta.query().where(`key = 'collection'`).toArray();
  // no record: a creation interrupted before its last commit; openOrCreate completes it
  if (rows.length === 0)
    throw new FgClipError('COLLECTION_INVALID', `collection ${uri}: there is no collection here (its creation was interrupted; fgclip index creates it)`);
  if (rows.length !== 1) throw new FgClipError('COLLECTION_INVALID', `collection ${uri}: its meta table has ${rows.length} collection records`);
  const info = JSON.parse(rows[0].json as string) as CollectionInfo;
  if (info.format !== 1 || typeof info.dim !== 'number')
    throw new FgClipError('COLLECTION_INVALID', `collection ${uri}: unknown format ${JSON.stringify(info.format)} (this fgclip reads format 1)`);
  return info;
}

function toF32(v: unknown): Float32Array {
  if (v instanceof Float32Array) return v;
  const vec = v as { toArray?: () => ArrayLike<number> };
  return Float32Array.from(vec.toArray ? vec.toArray() : (v as ArrayLike<number>));
}

/** Rows as an Arrow table in the table's own schema (vectors as fixed-size lists of float32). */
export function toTable(rows: Record<string, unknown>[], _table: Table, dim: number) {
  const first = rows[0];
  const schema = 'rid' in first ? regionsSchema(dim) : imagesSchema(dim);
  const cols: Record<string, unknown> = {};
  for (const f of schema.fields) {
    if (f.name === 'vector') {
      const flat = new Float32Array(rows.length * dim);
      rows.forEach((r, i) => flat.set(r.vector as Float32Array, i * dim));
      const child = arrow.makeData({ type: new arrow.Float32(), length: flat.length, data: flat });
      cols.vector = arrow.makeVector(arrow.makeData({ type: f.type, length: rows.length, nullCount: 0, child }));
    } else if (f.type instanceof arrow.Utf8)
      cols[f.name] = arrow.vectorFromArray(
        rows.map((r) => r[f.name] as string),
        new arrow.Utf8(),
      );
    else if (f.type instanceof arrow.Int32) cols[f.name] = arrow.makeVector(Int32Array.from(rows, (r) => r[f.name] as number));
    else if (f.type instanceof arrow.Float32) cols[f.name] = arrow.makeVector(Float32Array.from(rows, (r) => r[f.name] as number));
    else cols[f.name] = arrow.makeVector(Float64Array.from(rows, (r) => r[f.name] as number));
  }
  const children = schema.fields.map((f) => (cols[f.name] as { data: unknown[] }).data[0]);
  const batch = new arrow.RecordBatch(
    schema,
    arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows.length, nullCount: 0, children } as never) as never,
  );
  return new arrow.Table(schema, [batch]);
}

function hit(r: Record<string, unknown>): CollectionHit {
  return {
    path: r.path as string,
    score: 1 - Number(r._distance),
    sha256: r.sha256 as string,
    width: Number(r.width),
    height: Number(r.height),
    mtime: Number(r.mtime),
  };
}

function checkTop(top: number | undefined): number {
  const k = top ?? 10;
  if (!Number.isInteger(k) || k < 1 || k > MAX_TOP) throw new FgClipError('INPUT_INVALID', `search: top must be an integer from 1 to ${MAX_TOP} (got ${top})`);
  return k;
}

function num(v: unknown, name: string): number {
  const n = v instanceof Date ? v.getTime() : v;
  if (typeof n !== 'number' || !Number.isFinite(n))
    throw new FgClipError(
      'INPUT_INVALID',
      `filter.${name}: expected a number${name.startsWith('modified') ? ' (ms since the epoch) or a Date' : ''} (got ${JSON.stringify(v)})`,
    );
  return n;
}

/** The filter as a SQL predicate on the images table (undefined: no filter). */
export function filterSql(f: Filter | undefined): string | undefined {
  if (!f) return undefined;
  const parts: string[] = [];
  if (f.path !== undefined) {
    if (typeof f.path !== 'string' || f.path === '')
      throw new FgClipError('INPUT_INVALID', `filter.path: expected a non-empty pattern (got ${JSON.stringify(f.path)})`);
    parts.push(`path LIKE ${sqlString(globToLike(f.path))} ESCAPE '\\'`);
  }
  const cmp: [keyof Filter, string, string][] = [
    ['minWidth', 'width', '>='],
    ['maxWidth', 'width', '<='],
    ['minHeight', 'height', '>='],
    ['maxHeight', 'height', '<='],
    ['modifiedAfter', 'mtime', '>='],
    ['modifiedBefore', 'mtime', '<'],
  ];
  for (const [k, col, op] of cmp) if (f[k] !== undefined) parts.push(`${col} ${op} ${num(f[k], k)}`);
  return parts.length ? parts.join(' AND ') : undefined;
}
