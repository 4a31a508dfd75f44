/**
 * Collections section of `npm run bench` (issue 11):
 * - indexing throughput (real JPEGs through the model, global + 18 region vectors, LanceDB commits) against the
 *   model-only rate (encodeImages on the same files, same batch size, same work: global vector and dense map, as the
 *   index run needs for its region vectors) — target ≥ 90%;
 * - peak RSS while indexing (VmHWM of a child process doing only the index run);
 * - disk bytes per image (collection folder after compaction);
 * - query latency p50/p95 and recall@10 against exact search, on synthetic clustered unit vectors (512-d) at 100k
 *   and 1M rows with the IVF_RQ index, and exact (flat) latency at smaller sizes (the index threshold);
 * - region query latency (18 region rows per image).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Collection, toTable, type CollectionModel } from '../src/collection/collection.js';
import { indexCollection } from '../src/collection/indexer.js';
import { FgClip } from '../src/model/handle.js';
import { median } from './stats.js';
import { Rng } from './synthetic.js';

export const COLLECTION_PARTS = ['index', 'flat', 'ann', 'regions', 'schemes', 'workers'] as const;
export type CollectionPart = (typeof COLLECTION_PARTS)[number];

export interface CollectionBench {
  workers?: { images: number; oneWorkerSeconds: number; twoWorkersSeconds: number; speedup: number };
  indexing?: { images: number; modelOnlyPerSec: number; indexPerSec: number; ratio: number; diskBytesPerImage: number; peakRssMiB: number | null };
  flat: { rows: number; p50Ms: number; p95Ms: number }[];
  ann: {
    rows: number;
    buildSeconds: number;
    insertSeconds: number;
    refineFactor: number;
    nprobes: number;
    p50Ms: number;
    p95Ms: number;
    recallAt10: number;
    diskBytes: number;
  }[];
  regions?: { images: number; rows: number; p50Ms: number; p95Ms: number };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

function dirBytes(p: string): number {
  let n = 0;
  for (const e of readdirSync(p, { withFileTypes: true })) n += e.isDirectory() ? dirBytes(join(p, e.name)) : statSync(join(p, e.name)).size;
  return n;
}

/** Bumped when makeVectors changes: collections and exact answers cached by an earlier generator are rebuilt. */
const GENERATOR = 'clustered-v2';

/**
 * Clustered unit vectors (like image embeddings): 1000 centres drawn from `centreSeed`, each vector a centre plus
 * N(0, 0.6²) noise from `seed`, normalized. Stored vectors and held-out queries share the centres.
 */
function makeVectors(n: number, dim: number, centreSeed: number, seed: number): Float32Array[] {
  const gauss = (rng: Rng) => {
    let spare: number | undefined;
    return () => {
      if (spare !== undefined) {
        const x = spare;
        spare = undefined;
        return x;
      }
      const r = Math.sqrt(-2 * Math.log((rng.nextU32() + 1) / 2 ** 32));
      const t = (2 * Math.PI * (rng.nextU32() + 1)) / 2 ** 32;
      spare = r * Math.sin(t);
      return r * Math.cos(t);
    };
  };
  const gc = gauss(new Rng(centreSeed));
  const centres = Array.from({ length: 1000 }, () => Float32Array.from({ length: dim }, gc));
  const rng = new Rng(seed);
  const g = gauss(rng);
  return Array.from({ length: n }, () => {
    const c = centres[rng.nextU32() % centres.length];
    const v = new Float32Array(dim);
    let s = 0;
    for (let i = 0; i < dim; i++) {
      v[i] = c[i] + 0.6 * g();
      s += v[i] * v[i];
    }
    const k = 1 / Math.sqrt(s);
    for (let i = 0; i < dim; i++) v[i] *= k;
    return v;
  });
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

const MODEL: CollectionModel = { name: 'synthetic', identity: 'synthetic', preprocess: 'synthetic', dim: 512, imageSize: 224, grid: 14 };

/**
 * Writes synthetic images (and `regionsPer` region rows each) with plain appends: the figures are about queries, and
 * a million rows through `upsert` (a merge against every stored key per batch) measures the merge, not the index.
 */
async function fill(uri: string, vecs: Float32Array[], regionsPer = 0): Promise<number> {
  rmSync(uri, { recursive: true, force: true });
  const c = await Collection.openOrCreate(uri, MODEL, { regions: regionsPer ? 'grid' : 'none' });
  const t = performance.now();
  const B = 20_000;
  for (let s = 0; s < vecs.length; s += B) {
    const part = vecs.slice(s, s + B);
    if (regionsPer) {
      const regions = part.flatMap((_, i) =>
        Array.from({ length: regionsPer }, (_, k) => ({
          rid: `h${s + i}:${k}`,
          sha256: `h${s + i}`,
          x1: k,
          y1: k,
          x2: k + 1,
          y2: k + 1,
          vector: vecs[(s + i + 7919 * (k + 1)) % vecs.length],
        })),
      );
      await c.regionTable.add(toTable(regions, c.regionTable, MODEL.dim));
    }
    await c.images.add(
      toTable(
        part.map((v, i) => ({ sha256: `h${s + i}`, path: `/syn/${s + i}.jpg`, width: 1024, height: 768, bytes: 1, mtime: 0, vector: v })),
        c.images,
        MODEL.dim,
      ),
    );
  }
  c.close();
  return (performance.now() - t) / 1000;
}

async function queryLatency(
  c: Collection,
  queries: Float32Array[],
  opts: { nprobes?: number; refineFactor?: number },
  regions = false,
): Promise<{ times: number[]; hits: string[][] }> {
  const times: number[] = [];
  const hits: string[][] = [];
  for (const q of queries) {
    const t = performance.now();
    const r = regions ? await c.searchRegionsVector(q, { top: 10, ...opts }) : await c.searchVector(q, { top: 10, ...opts });
    times.push(performance.now() - t);
    hits.push(r.map((h) => h.sha256));
  }
  return { times, hits };
}

/** Exact top-10 by brute force in JS (the recall reference). */
function exactTop(vecs: Float32Array[], q: Float32Array): string[] {
  const best: { i: number; s: number }[] = [];
  for (let i = 0; i < vecs.length; i++) {
    const v = vecs[i];
    let s = 0;
    for (let d = 0; d < q.length; d++) s += q[d] * v[d];
    if (best.length < 10 || s > best[9].s) {
      best.push({ i, s });
      best.sort((a, b) => b.s - a.s);
      if (best.length > 10) best.pop();
    }
  }
  return best.map((b) => `h${b.i}`);
}

export async function benchCollections(opts: {
  dir: string;
  jpegs: string[];
  modelDir?: string;
  threads: number;
  sizes: number[];
  flatSizes: number[];
  queries: number;
  parts?: ReadonlySet<CollectionPart>;
  log: (m: string) => void;
}): Promise<CollectionBench> {
  const parts = opts.parts ?? new Set(COLLECTION_PARTS);
  const out: CollectionBench = { flat: [], ann: [] };
  mkdirSync(opts.dir, { recursive: true });

  if (opts.modelDir && parts.has('index')) {
    const model = await FgClip.load(opts.modelDir, { threads: opts.threads, batchSize: 8 });
    try {
      // warm-up, then model-only on the same files and batch size
      const work = { normalize: false, dense: true } as const;
      await model.encodeImages(opts.jpegs.slice(0, 8), work);
      let t = performance.now();
      for (let s = 0; s < opts.jpegs.length; s += 32) await model.encodeImages(opts.jpegs.slice(s, s + 32), work);
      const modelOnly = opts.jpegs.length / ((performance.now() - t) / 1000);
      const uri = join(opts.dir, 'index-real');
      rmSync(uri, { recursive: true, force: true });
      t = performance.now();
      await indexCollection(model, uri, opts.jpegs, { batchSize: 32 });
      const indexRate = opts.jpegs.length / ((performance.now() - t) / 1000);
      // steady-state size: without the superseded versions an index run keeps for 10 minutes for readers
      const c = await Collection.open(uri);
      const lock = Collection.lock(uri, 'bench');
      await c.optimize({ keepVersionsMs: 0 });
      lock.release();
      c.close();
      const disk = dirBytes(uri) / opts.jpegs.length;
      opts.log(
        `collections: model-only ${modelOnly.toFixed(2)} img/s, index ${indexRate.toFixed(2)} img/s (${((100 * indexRate) / modelOnly).toFixed(1)}%), ${(disk / 1024).toFixed(1)} KiB/image`,
      );
      // peak RSS of an index run alone (child process; VmHWM)
      const rssUri = join(opts.dir, 'index-rss');
      rmSync(rssUri, { recursive: true, force: true });
      const code = `import { FgClip } from './src/model/handle.ts'; import { indexCollection } from './src/collection/indexer.ts'; import { readFileSync } from 'node:fs';
        const m = await FgClip.load(${JSON.stringify(opts.modelDir)}, { threads: ${opts.threads} });
        await indexCollection(m, ${JSON.stringify(rssUri)}, ${JSON.stringify(opts.jpegs)}, { batchSize: 32 });
        process.stdout.write(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' });
      const kb = Number(r.stdout.trim());
      out.indexing = {
        images: opts.jpegs.length,
        modelOnlyPerSec: modelOnly,
        indexPerSec: indexRate,
        ratio: indexRate / modelOnly,
        diskBytesPerImage: disk,
        peakRssMiB: Number.isFinite(kb) && kb > 0 ? kb / 1024 : null,
      };
    } finally {
      model.dispose();
    }
  }

  const sizes = parts.has('ann') ? opts.sizes : [];
  const flatSizes = parts.has('flat') ? opts.flatSizes : [];
  if (!parts.has('regions') && sizes.length === 0 && flatSizes.length === 0) return out;
  const maxN = Math.max(10_000, ...sizes, ...flatSizes);
  opts.log(`collections: ${maxN} synthetic 512-d vectors`);
  // queries are held-out draws from the same distribution (same cluster centres) as the stored vectors; the stored
  // vectors are drawn only when something needs them (the ANN collections and their exact answers are kept in
  // opts.dir between runs, so a long run can be split: one run builds, the next measures)
  const queries = makeVectors(opts.queries, 512, 42, 2);
  let drawn: Float32Array[] | undefined;
  const stored = (n: number) => {
    drawn ??= makeVectors(maxN, 512, 42, 1);
    return drawn.slice(0, n);
  };

  for (const n of flatSizes) {
    const uri = join(opts.dir, `flat-${n}`);
    await fill(uri, stored(n));
    const c = await Collection.open(uri);
    await queryLatency(c, queries.slice(0, 3), {});
    const { times } = await queryLatency(c, queries, {});
    out.flat.push({ rows: n, p50Ms: median(times), p95Ms: pct(times, 0.95) });
    opts.log(`collections: exact ${n} rows p50 ${median(times).toFixed(2)} ms`);
    c.close();
    rmSync(uri, { recursive: true, force: true });
  }

  for (const n of sizes) {
    const uri = join(opts.dir, `ann-${n}`);
    const builtFile = `${uri}.built.json`;
    // two stages, each recorded when done, so a run killed (or timed out) in the second resumes there
    let built = readJson<{ generator: string; insertSeconds: number; buildSeconds?: number }>(builtFile);
    if (built?.generator !== GENERATOR) {
      rmSync(builtFile, { force: true });
      const insertSeconds = await fill(uri, stored(n));
      opts.log(`collections: ${n} rows appended in ${insertSeconds.toFixed(1)} s`);
      built = { generator: GENERATOR, insertSeconds };
      writeFileSync(builtFile, JSON.stringify(built));
    }
    if (built.buildSeconds === undefined) {
      const c = await Collection.open(uri);
      const t = performance.now();
      await c.optimize({ threshold: 1 });
      c.close();
      const seconds = (performance.now() - t) / 1000;
      built = { ...built, buildSeconds: seconds };
      writeFileSync(builtFile, JSON.stringify(built));
      opts.log(`collections: compaction + IVF_RQ index over ${n} rows in ${seconds.toFixed(1)} s (kept in ${uri} for the next run)`);
    } else
      opts.log(
        `collections: reusing ${uri} (built earlier: insert ${built.insertSeconds.toFixed(1)} s, compaction + index ${built.buildSeconds.toFixed(1)} s)`,
      );
    const buildSeconds = built.buildSeconds as number;
    const exactFile = `${uri}.exact-${opts.queries}.json`;
    let exact = readJson<{ generator: string; top: string[][] }>(exactFile);
    if (exact?.generator !== GENERATOR) {
      const t = performance.now();
      const vecs = stored(n);
      exact = { generator: GENERATOR, top: queries.map((q) => exactTop(vecs, q)) };
      writeFileSync(exactFile, JSON.stringify(exact));
      opts.log(`collections: exact top-10 of ${queries.length} queries over ${n} rows (JS brute force) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const truth = exact.top;
    const c = await Collection.open(uri);
    for (const [nprobes, refineFactor] of n > 300_000
      ? [
          [16, 30],
          [32, 30],
          [32, 50],
          [64, 30],
          [16, 50],
        ]
      : [
          [16, 10],
          [32, 10],
          [64, 20],
        ]) {
      await queryLatency(c, queries.slice(0, 3), { nprobes, refineFactor });
      const { times, hits } = await queryLatency(c, queries, { nprobes, refineFactor });
      const recall = hits.reduce((s, h, i) => s + h.filter((x) => truth[i].includes(x)).length / 10, 0) / hits.length;
      out.ann.push({
        rows: n,
        buildSeconds,
        insertSeconds: built.insertSeconds,
        refineFactor,
        nprobes,
        p50Ms: median(times),
        p95Ms: pct(times, 0.95),
        recallAt10: recall,
        diskBytes: dirBytes(uri),
      });
      opts.log(
        `collections: IVF_RQ ${n} rows nprobes ${nprobes} refine ${refineFactor}: p50 ${median(times).toFixed(2)} ms, p95 ${pct(times, 0.95).toFixed(2)}, recall@10 ${recall.toFixed(3)} (build ${buildSeconds.toFixed(1)} s)`,
      );
    }
    c.close();
  }

  if (!parts.has('regions')) return out;
  // region queries: 10k images × 18 regions = 180k region rows (indexed), joined back to their images
  const imgs = 10_000;
  const uri = join(opts.dir, 'regions');
  await fill(uri, stored(imgs), 18);
  const c = await Collection.open(uri);
  await c.optimize({ threshold: 50_000 });
  await queryLatency(c, queries.slice(0, 3), {}, true);
  const { times } = await queryLatency(c, queries, {}, true);
  out.regions = { images: imgs, rows: imgs * 18, p50Ms: median(times), p95Ms: pct(times, 0.95) };
  opts.log(`collections: region query over ${imgs * 18} region rows p50 ${median(times).toFixed(2)} ms`);
  c.close();
  rmSync(uri, { recursive: true, force: true });
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

const ROOT_DIR = join(import.meta.dirname, '..');
const ENTRY = `import { main } from ${JSON.stringify(join(ROOT_DIR, 'src/cli/main.ts'))}; main(process.argv.slice(1)).then((c) => { process.exitCode = c; });`;
function cli(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ENTRY, ...args], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
}
const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.on('close', (code) => r(code))));

/**
 * `fgclip index --queue` wall time with 1 worker (1 thread) and with 2 workers (1 thread each) on the same files,
 * each into a fresh collection (workers started and warm before the index run). Needs redis-server.
 */
export async function benchWorkers(opts: { dir: string; jpegs: string[]; modelDir: string; log: (m: string) => void }): Promise<CollectionBench['workers']> {
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const url = `redis://127.0.0.1:${port}`;
  try {
    const times: number[] = [];
    for (const n of [1, 2]) {
      const name = `bench${n}`;
      const workers = Array.from({ length: n }, () =>
        cli(['worker', '--queue', url, '--queue-name', name, '--model', opts.modelDir, '--threads', '1', '--concurrency', '8']),
      );
      // wait until every worker says it is ready (model loaded)
      await Promise.all(workers.map((w) => new Promise<void>((r) => w.stderr?.on('data', (d) => /worker ready/.test(String(d)) && r()))));
      const uri = join(opts.dir, `workers-${n}`);
      rmSync(uri, { recursive: true, force: true });
      const t = performance.now();
      const code = await exited(
        cli(['index', ...opts.jpegs, '--model', opts.modelDir, '--collection', uri, '--queue', url, '--queue-name', name, '--json', '--threads', '1']),
      );
      times.push((performance.now() - t) / 1000);
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map(exited));
      if (code !== 0) throw new Error(`fgclip index --queue exited ${code}`);
      opts.log(`collections: ${n} worker(s): ${opts.jpegs.length} images in ${times[times.length - 1].toFixed(1)} s`);
    }
    return { images: opts.jpegs.length, oneWorkerSeconds: times[0], twoWorkersSeconds: times[1], speedup: times[0] / times[1] };
  } finally {
    redis.kill('SIGTERM');
  }
}

/**
 * Region schemes, storage against quality. For each image, the exhaustive reference is the best of every
 * cell-aligned box (widths and heights of 1…grid cells, positions at quarter-size strides) pooled from the dense map; a scheme answers
 * with the best of its stored boxes. Quality: the scheme's best cosine as a fraction of the reference's, and the IoU
 * of the two boxes, averaged over (image, query) pairs. Queries are region vectors of random boxes of other images.
 */
export async function benchRegionSchemes(opts: { jpegs: string[]; modelDir: string; threads: number; queries: number; log: (m: string) => void }) {
  const { regionVectors, schemeBoxes } = await import('../src/collection/regions.js');
  const model = await FgClip.load(opts.modelDir, { threads: opts.threads });
  try {
    const g = model.gridSize;
    const P = model.embeddingDim;
    const enc = await model.encodeImages(opts.jpegs, { normalize: false, dense: true });
    const cand: [number, number, number, number][] = [];
    for (let h = 1; h <= g; h++)
      for (let w = 1; w <= g; w++)
        for (let y = 0; y + h <= g; y += Math.max(1, h >> 2))
          for (let x = 0; x + w <= g; x += Math.max(1, w >> 2)) cand.push([x / g, y / g, (x + w) / g, (y + h) / g]);
    const rng = new Rng(7);
    const iou = (a: readonly number[], b: readonly number[]) => {
      const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
      const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
      const i = ix * iy;
      return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
    };
    const dotv = (a: Float32Array, b: Float32Array) => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i] * b[i];
      return s;
    };
    const candVecs = enc.map((e) => regionVectors(e.dense as Float32Array[], g, P, cand));
    const out: { scheme: string; rowsPerImage: number; bytesPerImage: number; scoreRatio: number; iou: number }[] = [];
    for (const scheme of ['grid', 'patches'] as const) {
      const boxes = schemeBoxes(scheme, g);
      const vecs = enc.map((e) => regionVectors(e.dense as Float32Array[], g, P, boxes));
      let ratio = 0;
      let overlap = 0;
      let n = 0;
      for (let i = 0; i < enc.length; i++) {
        for (let k = 0; k < opts.queries; k++) {
          const other = (i + 1 + (rng.nextU32() % (enc.length - 1))) % enc.length;
          const q = candVecs[other][rng.nextU32() % cand.length];
          let best = -2;
          let bestBox = cand[0];
          candVecs[i].forEach((v, j) => {
            const s = dotv(q, v);
            if (s > best) [best, bestBox] = [s, cand[j]];
          });
          let sb = -2;
          let sbBox: readonly number[] = boxes[0];
          vecs[i].forEach((v, j) => {
            const s = dotv(q, v);
            if (s > sb) [sb, sbBox] = [s, boxes[j]];
          });
          ratio += sb / best;
          overlap += iou(sbBox, bestBox);
          n++;
        }
      }
      out.push({ scheme, rowsPerImage: boxes.length, bytesPerImage: boxes.length * (P * 4 + 16 + 80), scoreRatio: ratio / n, iou: overlap / n });
      opts.log(
        `collections: regions '${scheme}': ${boxes.length} rows/image, best-score ratio ${(ratio / n).toFixed(3)}, IoU with the exhaustive best box ${(overlap / n).toFixed(3)} (${cand.length} candidate boxes)`,
      );
    }
    return { candidates: cand.length, images: enc.length, schemes: out };
  } finally {
    model.dispose();
  }
}

/**
 * Region schemes on learned weights: the shipped demo model (models/fgclip-synthetic, trained on synthetic scenes,
 * README "Training") indexes held-out scenes it never saw — the generator's held-out split, seed 1, as its training
 * report — into one collection per scheme, through the same `indexCollection` / `searchCollection` path as
 * `fgclip index` / `fgclip search --regions`. Each object's short expression ("a small red circle at the top left")
 * is a region query; figures per scheme:
 * - image R@1: the best hit is the scene the phrase was written for;
 * - IoU and centre hit of the returned box (when that scene is found in the top 10) against the object's true box;
 * - the oracle IoU: the best IoU any stored box of the scheme has with the true box (what the scheme could answer at
 *   best, whatever the model).
 */
export async function benchRegionSchemesTrained(opts: { modelDir: string; dir: string; images: number; threads: number; log: (m: string) => void }) {
  const { generateSyntheticDataset } = await import('../src/train/synthetic/scenes.js');
  const { searchCollection } = await import('../src/collection/search.js');
  const { schemeBoxes } = await import('../src/collection/regions.js');
  rmSync(opts.dir, { recursive: true, force: true });
  const data = join(opts.dir, 'data');
  const side = 64; // the demo model's image size; scenes are rendered at it, so stored boxes are in these pixels
  const { heldOut } = await generateSyntheticDataset({ out: data, train: 0, heldOut: opts.images, seed: 1, imageSize: side });
  type Rec = { f_path: string; bbox_info: { bbox: number[]; short_expr: string }[] };
  const records = JSON.parse(readFileSync(heldOut, 'utf8')) as Rec[];
  const images = join(data, 'images');
  const model = await FgClip.load(opts.modelDir, { threads: opts.threads });
  const iou = (a: readonly number[], b: readonly number[]) => {
    const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
    const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
    const i = ix * iy;
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
  };
  try {
    const out: {
      scheme: string;
      rowsPerImage: number;
      queries: number;
      imageR1: number;
      found: number;
      iou: number;
      centreHit: number;
      oracleIou: number;
      oracleIouFound: number;
    }[] = [];
    for (const scheme of ['grid', 'patches'] as const) {
      const uri = join(opts.dir, `collection-${scheme}`);
      await indexCollection(model, uri, [images], { regions: scheme, indexThreshold: Number.MAX_SAFE_INTEGER });
      const coll = await Collection.open(uri);
      const boxes = schemeBoxes(scheme, model.gridSize);
      let n = 0;
      let r1 = 0;
      let found = 0;
      let sumIou = 0;
      let centre = 0;
      let oracle = 0;
      let oracleFound = 0;
      try {
        for (const rec of records) {
          const want = join(data, rec.f_path);
          for (const b of rec.bbox_info) {
            const truth = b.bbox.map((v) => v * side);
            const { results } = await searchCollection(model, coll, { text: b.short_expr }, { regions: true, top: 10 });
            n++;
            if (results[0]?.path === want) r1++;
            const hit = results.find((h) => h.path === want);
            const best = Math.max(
              ...boxes.map((u) =>
                iou(
                  u.map((v) => v * side),
                  truth,
                ),
              ),
            );
            oracle += best;
            if (hit?.box) {
              oracleFound += best;
              found++;
              sumIou += iou(hit.box, truth);
              const cx = (hit.box[0] + hit.box[2]) / 2;
              const cy = (hit.box[1] + hit.box[3]) / 2;
              if (cx >= truth[0] && cx <= truth[2] && cy >= truth[1] && cy <= truth[3]) centre++;
            }
          }
        }
      } finally {
        coll.close();
      }
      const row = {
        scheme,
        rowsPerImage: boxes.length,
        queries: n,
        imageR1: r1 / n,
        found: found / n,
        iou: found ? sumIou / found : 0,
        centreHit: found ? centre / found : 0,
        oracleIou: oracle / n,
        oracleIouFound: found ? oracleFound / found : 0,
      };
      out.push(row);
      opts.log(
        `collections: regions '${scheme}' on the trained demo model: ${boxes.length} rows/image, image R@1 ${row.imageR1.toFixed(3)}, scene in top 10 ${row.found.toFixed(3)}, box IoU ${row.iou.toFixed(3)} (oracle ${row.oracleIouFound.toFixed(3)} on the same phrases, ${row.oracleIou.toFixed(3)} on all), box centre inside the object ${row.centreHit.toFixed(3)} (${n} phrases, ${records.length} scenes)`,
      );
    }
    return { images: records.length, schemes: out };
  } finally {
    model.dispose();
    rmSync(opts.dir, { recursive: true, force: true });
  }
}
