/**
 * Indexing across machines on BullMQ (Redis), the way Immich fans out its ML jobs.
 *
 * - `fgclip index … --queue redis://H:P` plans as usual, then enqueues one job per new content on
 *   `<name>-embed` (job id = the content's sha256, retries with backoff, removed when completed) and becomes the
 *   collection's ONE writer: it consumes `<name>-write` in batches and upserts them (merge on sha256).
 * - `fgclip worker --queue redis://H:P --model M` (any number, any machine that sees the same paths) takes embed
 *   jobs, checks the file still has the queued hash and that its model is the collection's, embeds (one vision pass
 *   for the global and region vectors, several jobs batched per model call) and adds the result to `<name>-write`
 *   (job id = sha256) before completing its job.
 *
 * Delivery is at least once: a killed worker's job is re-run after the stall interval, a killed writer's batch is
 * re-delivered; both replays are harmless because the upsert is keyed by content, and the writer writes and counts
 * only the contents this run still waits for (a result that arrives twice is acked and dropped). Results live in Redis until they
 * are committed. If Redis itself loses its data (restarted without persistence), the writer notices jobs that are
 * no longer anywhere and enqueues them again; a rerun of `fgclip index` re-plans from the collection in any case.
 */
import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { FgClipError } from '../errors.js';
import type { Encoder } from '../model/encoder.js';
import type { SkippedImage } from '../tasks/images.js';
import type { CollectionModel, ImageRecord } from './collection.js';
import { describeModel, embedFiles, loadFile, type FileJob } from './embed.js';
import type { Embedder } from './indexer.js';
import type { RegionScheme } from './regions.js';

export interface QueueOptions {
  /** queue family name (default 'fgclip'); use one per collection indexed at the same time */
  readonly name?: string;
  /** ms a job's lock lasts before a silent worker's job is re-run (default 30000) */
  readonly lockMs?: number;
}

interface EmbedJob {
  readonly path: string;
  readonly sha256: string;
  readonly model: CollectionModel;
  readonly regions: RegionScheme;
}

/** An embedded image in transit from a worker to the writer: vectors packed as base64 float32. */
interface WriteJob extends Omit<ImageRecord, 'vector' | 'regions'> {
  /** base64 of float32: the global vector, then each region's */
  readonly vectors: string;
  readonly boxes: number[][];
}

function lockMs(opts: QueueOptions): number {
  return opts.lockMs ?? (Number(process.env.FGCLIP_QUEUE_LOCK_MS) || 30_000);
}

/** A Redis connection for BullMQ; fails fast with QUEUE_ERROR when nothing answers at `url`. */
export async function connectRedis(url: string): Promise<Redis> {
  if (!/^rediss?:\/\//.test(url)) throw new FgClipError('INPUT_INVALID', `queue: expected redis://HOST:PORT (got ${JSON.stringify(url)})`);
  // loaded on use: `import 'fgclip'` should not pay for ioredis and bullmq (whole-process cost of every command)
  const { Redis } = await import('ioredis');
  const probe = new Redis(url, { maxRetriesPerRequest: 0, lazyConnect: true, connectTimeout: 3000, retryStrategy: () => null });
  probe.on('error', () => undefined); // reported by the rejected connect/ping below
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    throw new FgClipError(
      'QUEUE_ERROR',
      `queue ${url}: cannot reach Redis (${e instanceof Error ? e.message : String(e)}); start redis-server or fix the address`,
      { cause: e },
    );
  } finally {
    probe.disconnect();
  }
  const conn = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(200 * n, 2000) });
  conn.on('error', () => undefined); // a lost connection is retried forever (Redis restarts); commands wait for it
  return conn;
}

function encodeRecord(r: ImageRecord): WriteJob {
  const dim = r.vector.length;
  const all = new Float32Array(dim * (1 + r.regions.length));
  all.set(r.vector, 0);
  r.regions.forEach((g, k) => all.set(g.vector, (k + 1) * dim));
  return {
    sha256: r.sha256,
    path: r.path,
    width: r.width,
    height: r.height,
    bytes: r.bytes,
    mtime: r.mtime,
    vectors: Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString('base64'),
    boxes: r.regions.map((g) => [...g.box]),
  };
}

function decodeRecord(w: WriteJob, dim: number): ImageRecord {
  const buf = Buffer.from(w.vectors, 'base64');
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  if (all.length !== dim * (1 + w.boxes.length))
    throw new FgClipError('COLLECTION_INVALID', `queue: the result for ${w.path} has ${all.length} floats (expected ${dim * (1 + w.boxes.length)})`);
  return {
    sha256: w.sha256,
    path: w.path,
    width: w.width,
    height: w.height,
    bytes: w.bytes,
    mtime: w.mtime,
    vector: all.subarray(0, dim),
    regions: w.boxes.map((b, k) => ({ box: b as unknown as [number, number, number, number], vector: all.subarray((k + 1) * dim, (k + 2) * dim) })),
  };
}

/** The writer side: enqueue embed jobs, then commit the workers' results in batches until every job is settled. */
export async function queueEmbedder(
  url: string,
  opts: QueueOptions & { batchSize?: number; pollMs?: number } = {},
): Promise<{ embedder: (model: CollectionModel, regions: RegionScheme) => Embedder; close: () => Promise<void> }> {
  const name = opts.name ?? 'fgclip';
  const connection = await connectRedis(url);
  const { Queue, Worker } = await import('bullmq');
  const embedQ = new Queue<EmbedJob>(`${name}-embed`, { connection });
  const writeQ = new Queue<WriteJob>(`${name}-write`, { connection });
  const writer = new Worker<WriteJob>(`${name}-write`, null, { connection, lockDuration: lockMs(opts), stalledInterval: lockMs(opts) });
  const batch = opts.batchSize ?? 64;
  const poll = opts.pollMs ?? 1000;
  const embedder = (model: CollectionModel, regions: RegionScheme): Embedder => ({
    async run(jobs, write, ctx) {
      const pending = new Map(jobs.map((j) => [j.sha256 as string, j]));
      const enqueue = async (list: readonly FileJob[]) => {
        // a failed job of an earlier run keeps its id: remove it so the content is tried again
        for (const j of list) {
          const old = await embedQ.getJob(j.sha256 as string);
          if (old && (await old.isFailed())) await old.remove();
        }
        for (let s = 0; s < list.length; s += 500) {
          await embedQ.addBulk(
            list.slice(s, s + 500).map((j) => ({
              name: 'embed',
              data: { path: j.path, sha256: j.sha256 as string, model, regions },
              opts: { jobId: j.sha256, attempts: 5, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: false },
            })),
          );
        }
      };
      await enqueue(jobs);
      (writer as unknown as { startStalledCheckTimer?: () => Promise<void> }).startStalledCheckTimer?.().catch(() => undefined);
      const token = randomUUID();
      let done = 0;
      let lastCheck = Date.now();
      while (pending.size > 0 && !ctx.signal?.aborted) {
        const got: Job<WriteJob>[] = [];
        const first = await writer.getNextJob(token, { block: true }).catch(() => undefined);
        if (first) {
          got.push(first);
          while (got.length < batch) {
            const j = await writer.getNextJob(token, { block: false }).catch(() => undefined);
            if (!j) break;
            got.push(j);
          }
          // Delivery is at least once: a result can arrive again after its content was committed (a worker killed
          // after adding its result but before completing its embed job, so the job re-ran; a writer killed before
          // its ack). Only contents still pending are written and counted, once each; the replays are acked.
          const fresh = new Map<string, Job<WriteJob>>();
          for (const j of got) if (pending.has(j.data.sha256) && !fresh.has(j.data.sha256)) fresh.set(j.data.sha256, j);
          if (fresh.size > 0) await write([...fresh.values()].map((j) => decodeRecord(j.data, model.dim)));
          for (const j of got) {
            await j.moveToCompleted('written', token, false).catch(() => undefined); // a lost ack is a harmless replay
          }
          for (const sha of fresh.keys()) if (pending.delete(sha)) done++;
          ctx.onProgress?.(done);
        }
        if (Date.now() - lastCheck >= poll || !first) {
          lastCheck = Date.now();
          await settleFailed(embedQ, pending, ctx.onSkipped);
          await requeueLost(embedQ, writeQ, pending, enqueue);
        }
      }
    },
  });
  return {
    embedder,
    close: async () => {
      await writer.close(true).catch(() => undefined);
      await embedQ.close();
      await writeQ.close();
      connection.disconnect();
    },
  };
}

/** Jobs that failed for good (unreadable, changed file, wrong model) leave `pending` as skipped images. */
async function settleFailed(embedQ: Queue<EmbedJob>, pending: Map<string, FileJob>, onSkipped: (s: SkippedImage) => void): Promise<void> {
  for (const j of await embedQ.getJobs(['failed'], 0, -1)) {
    const f = j.id !== undefined ? pending.get(j.id) : undefined;
    if (!f) continue;
    pending.delete(j.id as string);
    onSkipped({ image: f.path, index: -1, code: 'IMAGE_DECODE', message: `worker failed: ${j.failedReason}` });
  }
}

/** Pending contents that have no job left in either queue (Redis restarted without persistence) are enqueued again. */
async function requeueLost(
  embedQ: Queue<EmbedJob>,
  writeQ: Queue<WriteJob>,
  pending: Map<string, FileJob>,
  enqueue: (l: readonly FileJob[]) => Promise<void>,
): Promise<void> {
  const lost: FileJob[] = [];
  for (const [sha, f] of pending) {
    if ((await embedQ.getJobState(sha)) !== 'unknown') continue;
    if ((await writeQ.getJobState(sha)) !== 'unknown') continue;
    lost.push(f);
  }
  if (lost.length > 0) await enqueue(lost);
}

export interface WorkerOptions extends QueueOptions {
  /** jobs in flight, batched per model call (default: the model's batch size, 8) */
  readonly concurrency?: number;
  readonly onError?: (message: string) => void;
  readonly onEmbedded?: (n: number) => void;
}

export interface RunningWorker {
  /** waits for the jobs in flight, then stops */
  close(): Promise<void>;
}

/** Embeds queued images with `model` until closed. */
export async function runWorker(model: Encoder, url: string, opts: WorkerOptions = {}): Promise<RunningWorker> {
  const name = opts.name ?? 'fgclip';
  const connection = await connectRedis(url);
  const { Queue, UnrecoverableError, Worker } = await import('bullmq');
  const writeQ = new Queue<WriteJob>(`${name}-write`, { connection });
  const mine = await describeModel(model);
  const concurrency = opts.concurrency ?? 8;
  // several jobs' images go through one encodeImages call
  let waiting: { job: EmbedJob; resolve: (r: WriteJob) => void; reject: (e: unknown) => void }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let embedded = 0;
  const flush = async () => {
    timer = undefined;
    const group = waiting;
    waiting = [];
    if (group.length === 0) return;
    const loaded = await Promise.all(group.map((g) => loadFile(g.job.path).catch((e: unknown) => e as Error)));
    const ok: number[] = [];
    loaded.forEach((l, i) => {
      if (l instanceof Error) group[i].reject(new UnrecoverableError(`cannot read ${group[i].job.path}: ${l.message}`));
      else if (l.sha256 !== group[i].job.sha256)
        group[i].reject(new UnrecoverableError(`${group[i].job.path} changed since it was queued (rerun fgclip index)`));
      else ok.push(i);
    });
    if (ok.length === 0) return;
    try {
      const files = ok.map((i) => loaded[i] as Exclude<(typeof loaded)[number], Error>);
      const out = await embedFiles(model, files, group[ok[0]].job.regions);
      const bySha = new Map(out.records.map((r) => [r.sha256, r]));
      for (const i of ok) {
        const r = bySha.get(group[i].job.sha256);
        if (r) group[i].resolve(encodeRecord({ ...r, path: group[i].job.path }));
        else
          group[i].reject(new UnrecoverableError(`${group[i].job.path}: ${out.skipped.find((s) => s.image === group[i].job.path)?.message ?? 'not an image'}`));
      }
      embedded += out.records.length;
      opts.onEmbedded?.(embedded);
    } catch (e) {
      for (const i of ok) group[i].reject(e);
    }
  };
  const worker = new Worker<EmbedJob>(
    `${name}-embed`,
    async (job) => {
      const m = job.data.model;
      if (m.identity !== mine.identity || m.preprocess !== mine.preprocess || m.dim !== mine.dim) {
        throw new UnrecoverableError(
          `this worker runs model ${mine.name} (id ${mine.identity.slice(0, 12)}); the collection holds model ${m.name} (id ${m.identity.slice(0, 12)})`,
        );
      }
      const result = await new Promise<WriteJob>((resolve, reject) => {
        waiting.push({ job: job.data, resolve, reject });
        if (waiting.length >= concurrency) void flush();
        else timer ??= setTimeout(() => void flush(), 20);
      });
      await writeQ.add('write', result, { jobId: result.sha256, attempts: 5, removeOnComplete: true, removeOnFail: false });
      return 'embedded';
    },
    { connection, concurrency, lockDuration: lockMs(opts), stalledInterval: lockMs(opts), maxStalledCount: 5 },
  );
  worker.on('failed', (job, err) => opts.onError?.(`job ${job?.id} (${job?.data.path}): ${err.message}`));
  worker.on('error', (err) => opts.onError?.(err.message));
  await worker.waitUntilReady();
  return {
    async close() {
      if (timer) clearTimeout(timer);
      await worker.close();
      await writeQ.close();
      connection.disconnect();
    },
  };
}
