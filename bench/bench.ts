/**
 * `npm run bench`: speed, memory and accuracy-vs-fp32 figures for FG-CLIP base and large on synthetic checkpoints
 * of the real shapes (bench/synthetic.ts). See BENCHMARKS.md for what each figure means.
 *
 *   --models base,large   which models (default both; --quick: base)
 *   --dtype fp32,int8     dtypes passed to FgClip.load (fp32 is always measured first, as the cosine reference)
 *   --runs N              timed runs per figure after warm-up (default 5; 3 when one run takes > 4 s; --quick: 2)
 *   --threads N           ONNX Runtime intra-op threads and pool workers (default 2)
 *   --e2e-images N        JPEGs in the end-to-end figure (default 32; --quick: 8)
 *   --json FILE           also write the results as JSON (default bench/results/latest.json)
 *   --quick               a short smoke run
 *   --collections-only    only the collections section (bench/collection.ts); --no-collections skips it
 *   --browser-only        only the browser section (bench/browser.ts, Chromium); --no-browser skips it
 *   --collection-sizes N,M  synthetic vector counts for the ANN figures (default 100000,1000000; --quick: 20000)
 *   --collection-parts P,…  which collection figures: index (throughput, RSS, disk), flat, ann, regions, schemes,
 *                         workers (default all; split a long run into several, e.g. under the machine's bench lock)
 *   --collection-images N  real JPEGs through the model for the index figures (default 64; --quick: 16); the
 *                         1-vs-2-workers figure uses half of them
 *   --fgclip2-only        only the FG-CLIP 2 section (bench/fgclip2.ts); --no-fgclip2 skips it
 *   --peer-only           only the whole-process fgclip vs transformers.js-style peer section (bench/peer.ts, base,
 *                         16 JPEGs); --no-peer skips it
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { benchBrowser, formatBrowser } from './browser.js';
import { benchCollections, benchRegionSchemes, benchRegionSchemesTrained, benchWorkers, COLLECTION_PARTS, type CollectionPart } from './collection.js';
import { ensureJpegs } from './images.js';
import { machineInfo } from './machine.js';
import { measureMatmul, type MatmulResult } from './matmul.js';
import { measureDtype, type DtypeResult } from './measure.js';
import { formatReport, type ModelReport } from './report.js';
import { benchCacheDir, ensureSyntheticCheckpoint, REPO_ROOT, SHAPES, type ModelName } from './synthetic.js';
import { visionFlops } from './flops.js';
import { benchFgclip2, formatFgclip2 } from './fgclip2.js';
import { formatPeer, measurePeer, type PeerResult } from './peer.js';
import { formatTraining, measureTraining, type TrainReport } from './train.js';

interface Args {
  models: ModelName[];
  dtypes: string[];
  runs: number;
  threads: number;
  e2eImages: number;
  json: string;
  quick: boolean;
  collections: 'yes' | 'no' | 'only';
  collectionSizes: number[];
  collectionParts: CollectionPart[];
  collectionImages: number;
  fgclip2: 'yes' | 'no' | 'only';
  train: boolean;
  /** training-step figures: runs per stage and which stages (`--train-runs`, `--train-stages`) */
  trainRuns?: number;
  trainStages: (1 | 2)[];
  /** `--train-only`: results go to <json>-train.json (latest.json keeps the full run's figures) */
  trainOnly?: boolean;
  browser: 'yes' | 'no' | 'only';
  peer: 'yes' | 'no' | 'only';
}

const DTYPES = ['fp32', 'fp16', 'int8'];

function usage(msg: string): never {
  process.stderr.write(
    `bench: ${msg}\nusage: npm run bench -- [--models base,large] [--dtype fp32,int8,fp16] [--runs N] [--threads N] [--e2e-images N] [--json FILE] [--quick] [--train | --train-only] [--train-runs N] [--train-stages 1,2]\n`,
  );
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const quick = argv.includes('--quick');
  const a: Args = {
    models: quick ? ['base'] : ['base', 'large'],
    dtypes: ['fp32'],
    runs: quick ? 2 : 5,
    threads: 2,
    e2eImages: quick ? 8 : 32,
    json: resolve(REPO_ROOT, 'bench', 'results', 'latest.json'),
    quick,
    collections: 'yes',
    collectionSizes: quick ? [20_000] : [100_000, 1_000_000],
    collectionParts: [...COLLECTION_PARTS],
    collectionImages: quick ? 16 : 64,
    fgclip2: 'yes',
    train: argv.includes('--train') || argv.includes('--train-only'),
    trainStages: [1, 2],
    browser: 'yes',
    peer: 'yes',
  };
  const int = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) usage(`${flag} expects a positive integer (got ${v})`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const v = argv[i + 1];
    switch (flag) {
      case '--quick':
      case '--train':
        continue;
      case '--train-only':
        // the MatMul reference and the training step only (it needs several minutes per step on a loaded machine)
        a.models = [];
        a.browser = 'no';
        a.collections = 'no';
        a.fgclip2 = 'no';
        a.peer = 'no';
        a.trainOnly = true;
        continue;
      case '--train-runs':
        a.trainRuns = int(flag, v);
        break;
      case '--train-stages': {
        const st = (v ?? '').split(',').filter(Boolean);
        if (st.length === 0 || !st.every((x) => x === '1' || x === '2')) usage(`--train-stages expects 1 and/or 2 (got ${v})`);
        a.trainStages = st.map((x) => Number(x) as 1 | 2);
        break;
      }
      case '--browser-only':
        a.browser = 'only';
        continue;
      case '--no-browser':
        a.browser = 'no';
        continue;
      case '--collections-only':
        a.collections = 'only';
        continue;
      case '--no-collections':
        a.collections = 'no';
        continue;
      case '--fgclip2-only':
        a.fgclip2 = 'only';
        continue;
      case '--peer-only':
        a.peer = 'only';
        continue;
      case '--no-peer':
        a.peer = 'no';
        continue;
      case '--no-fgclip2':
        a.fgclip2 = 'no';
        continue;
      case '--collection-sizes':
        a.collectionSizes = (v ?? '').split(',').map((x) => int(flag, x));
        break;
      case '--collection-images':
        a.collectionImages = int(flag, v);
        break;
      case '--collection-parts': {
        const ps = (v ?? '').split(',').filter(Boolean);
        if (ps.length === 0 || !ps.every((p): p is CollectionPart => (COLLECTION_PARTS as readonly string[]).includes(p)))
          usage(`--collection-parts expects some of ${COLLECTION_PARTS.join(',')} (got ${v})`);
        a.collectionParts = ps as CollectionPart[];
        break;
      }
      case '--models': {
        const ms = (v ?? '').split(',').filter(Boolean);
        if (ms.length === 0 || !ms.every((m): m is ModelName => m === 'base' || m === 'large')) usage(`--models expects base and/or large (got ${v})`);
        a.models = ms as ModelName[];
        break;
      }
      case '--dtype': {
        const ds = (v ?? '').split(',').filter(Boolean);
        if (ds.length === 0 || !ds.every((d) => DTYPES.includes(d))) usage(`--dtype expects ${DTYPES.join(', ')} (got ${v})`);
        a.dtypes = ['fp32', ...ds.filter((d) => d !== 'fp32')];
        break;
      }
      case '--runs':
        a.runs = int(flag, v);
        break;
      case '--threads':
        a.threads = int(flag, v);
        break;
      case '--e2e-images':
        a.e2eImages = int(flag, v);
        break;
      case '--json':
        if (!v) usage('--json expects a file name');
        a.json = resolve(v);
        break;
      default:
        usage(`unknown option ${flag}`);
    }
    i++;
  }
  return a;
}

/** Which library build was measured: the figures move with the graph layout the lead is optimizing. */
async function libraryInfo(): Promise<{ graphLayoutVersion: number | null }> {
  try {
    const m = (await import('../src/cache/graph-cache.js')) as { GRAPH_LAYOUT_VERSION?: unknown };
    return { graphLayoutVersion: typeof m.GRAPH_LAYOUT_VERSION === 'number' ? m.GRAPH_LAYOUT_VERSION : null };
  } catch {
    return { graphLayoutVersion: null };
  }
}

function log(m: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const machineStart = machineInfo();
  const benchDir = benchCacheDir();
  log(
    `machine: ${machineStart.nproc} cores, ${machineStart.cpuModel}, load average ${machineStart.loadAverage1m.toFixed(2)}${machineStart.loadAverage1m > 0.5 ? ' (other work is running: figures will be low and noisy)' : ''}`,
  );

  if (args.fgclip2 === 'only') {
    const r = benchFgclip2({ threads: args.threads, runs: args.runs, imageBatch: args.quick ? 1 : 4, root: benchDir, log });
    process.stdout.write(`${formatFgclip2(r)}\n`);
    mkdirSync(dirname(args.json), { recursive: true });
    writeFileSync(
      args.json.replace(/\.json$/, '-fgclip2.json'),
      `${JSON.stringify({ date: new Date().toISOString(), machine: machineInfo(), machineStart, fgclip2: r }, null, 2)}\n`,
    );
    return;
  }
  if (args.peer === 'only') {
    const r = await peerSection(args, benchDir);
    mkdirSync(dirname(args.json), { recursive: true });
    writeFileSync(
      args.json.replace(/\.json$/, '-peer.json'),
      `${JSON.stringify({ date: new Date().toISOString(), machine: machineInfo(), machineStart, peer: r }, null, 2)}\n`,
    );
    return;
  }
  if (args.browser === 'only') {
    const r = await browserSection(args, benchDir);
    mkdirSync(dirname(args.json), { recursive: true });
    writeFileSync(
      args.json.replace(/\.json$/, '-browser.json'),
      `${JSON.stringify({ date: new Date().toISOString(), machine: machineInfo(), machineStart, browser: r }, null, 2)}\n`,
    );
    return;
  }
  if (args.collections === 'only') {
    const r = await collectionSection(args, benchDir);
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    mkdirSync(dirname(args.json), { recursive: true });
    writeFileSync(
      args.json.replace(/\.json$/, '-collections.json'),
      `${JSON.stringify({ date: new Date().toISOString(), machine: machineInfo(), machineStart, collections: r }, null, 2)}\n`,
    );
    return;
  }
  const matmulRuns = args.quick ? 3 : 7;
  const matmul: MatmulResult[] = [];
  for (const [m, k, n] of [
    [1576, 768, 3072],
    [2048, 2048, 2048],
  ] as const) {
    log(`MatMul ${m}×${k}×${n}`);
    matmul.push(await measureMatmul(m, k, n, { threads: args.threads, runs: matmulRuns }));
    log(`  ${matmul[matmul.length - 1].gflops.toFixed(0)} GFLOP/s median`);
  }

  const jpegs = args.models.length > 0 ? await ensureJpegs(benchDir, args.e2eImages) : [];
  const models: ModelReport[] = [];
  for (const name of args.models) {
    const ck = ensureSyntheticCheckpoint(name, benchDir, log);
    log(`fg-clip-${name}: ${ck.generated ? `checkpoint written in ${ck.seconds.toFixed(1)} s` : 'checkpoint reused from the cache'}`);
    const fl = visionFlops(SHAPES[name]);
    const dtypes: DtypeResult[] = [];
    for (const dtype of args.dtypes) {
      const r = await measureDtype(
        ck,
        dtype,
        { threads: args.threads, runs: args.runs, warmup: 1, batch: 8, benchDir, jpegs, full: dtype === 'fp32', log },
        dtypes[0]?.outputs,
      );
      dtypes.push(r);
      if (!r.available) log(`  ${dtype}: ${r.note}`);
    }
    const fp32 = dtypes[0];
    const achieved = fp32.images ? (fl.full / 1e9) * fp32.images.b8PerSec : undefined;
    const achievedBest = fp32.images ? (fl.full / 1e9) * ((8 * 1000) / fp32.images.b8.bestMs) : undefined;
    models.push({
      name,
      parameters: ck.parameters,
      weightBytes: ck.weightBytes,
      gflopGlobal: fl.global / 1e9,
      gflopFull: fl.full / 1e9,
      checkpointSeconds: ck.seconds,
      dtypes,
      ...(achieved !== undefined && achievedBest !== undefined
        ? {
            achievedGflops: achieved,
            fractionOfMatmul: achieved / matmul[0].gflops,
            fractionOfSquareMatmul: achieved / matmul[1].gflops,
            achievedBestGflops: achievedBest,
            bestFractionOfMatmul: achievedBest / matmul[0].bestGflops,
          }
        : {}),
    });
  }

  const peer = args.peer === 'yes' && args.models.includes('base') ? await peerSection(args, benchDir) : undefined;
  const browser = args.browser === 'yes' ? await browserSection(args, benchDir) : undefined;
  const collections = args.collections === 'yes' ? await collectionSection(args, benchDir) : undefined;
  const fgclip2 =
    args.fgclip2 === 'yes' ? benchFgclip2({ threads: args.threads, runs: args.runs, imageBatch: args.quick ? 1 : 4, root: benchDir, log }) : undefined;
  if (fgclip2) process.stdout.write(`${formatFgclip2(fgclip2)}\n`);
  if (collections) process.stdout.write(`collections:\n${JSON.stringify(collections, null, 2)}\n`);
  let training: TrainReport | undefined;
  if (args.train) {
    log('training step: fg-clip-base shapes, batch 8 (child process)');
    const ck = ensureSyntheticCheckpoint('base', benchDir, log);
    training = await measureTraining(ck.dir, SHAPES.base, {
      threads: args.threads,
      batch: 8,
      runs: args.trainRuns ?? (args.quick ? 1 : 3),
      stages: args.trainStages,
      matmulGflops: matmul[0].gflops,
      log,
    });
  }

  const machineEnd = machineInfo();
  const totalSeconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${formatReport(machineStart, matmul, models)}${training ? `\n\n${formatTraining(training)}` : ''}\n\ntotal ${totalSeconds.toFixed(0)} s; load average at the end ${machineEnd.loadAverage1m.toFixed(2)}\n`,
  );
  const json = {
    date: new Date().toISOString(),
    library: await libraryInfo(),
    options: args,
    machine: { ...machineStart, loadAverage1mEnd: machineEnd.loadAverage1m },
    matmul,
    models: models.map((m) => ({
      ...m,
      flopsPerImage: visionFlops(SHAPES[m.name as ModelName]),
      dtypes: m.dtypes.map(({ outputs: _outputs, ...rest }) => rest),
    })),
    ...(peer ? { peer } : {}),
    ...(browser ? { browser } : {}),
    ...(collections ? { collections } : {}),
    ...(fgclip2 ? { fgclip2 } : {}),
    ...(training ? { training } : {}),
    totalSeconds,
  };
  const jsonFile = args.trainOnly ? args.json.replace(/\.json$/, '-train.json') : args.json;
  mkdirSync(dirname(jsonFile), { recursive: true });
  writeFileSync(jsonFile, `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${jsonFile}`);
}

/**
 * Whole-process embedding of 16 JPEGs (issue 10): fgclip's built package vs a transformers.js-style peer
 * (onnxruntime-node on an exporter-pattern graph of the same weights + sharp resize), fg-clip-base, fresh processes.
 */
async function peerSection(args: Args, benchDir: string): Promise<PeerResult> {
  const ck = ensureSyntheticCheckpoint('base', benchDir, log);
  log('peer: whole-process embedding, fgclip vs transformers.js-style peer (fg-clip-base)');
  const r = await measurePeer({
    ck,
    jpegs: (await ensureJpegs(benchDir, Math.max(16, args.e2eImages))).slice(0, 16),
    threads: args.threads,
    runs: args.runs,
    benchDir,
    log,
  });
  process.stdout.write(`${formatPeer(r)}\n`);
  return r;
}

/** Browser (issue 12): fg-clip-base shapes in Chromium (onnxruntime-web wasm, 2 threads) vs onnxruntime-node, load times, bundle bytes. */
async function browserSection(args: Args, benchDir: string) {
  const ck = ensureSyntheticCheckpoint('base', benchDir, log);
  const r = await benchBrowser({ ck, jpegs: await ensureJpegs(benchDir, Math.max(8, args.e2eImages)), benchDir, runs: args.runs, log });
  process.stdout.write(`${formatBrowser(r, ck.weightBytes)}\n`);
  return r;
}

/** Collections (issue 11): indexing vs model-only on real JPEGs through synthetic fg-clip-base, ANN and region queries. */
async function collectionSection(args: Args, benchDir: string) {
  const parts = new Set(args.collectionParts);
  const ck = ensureSyntheticCheckpoint('base', benchDir, log);
  const jpegs = await ensureJpegs(benchDir, args.collectionImages);
  const r = await benchCollections({
    dir: resolve(benchDir, 'collections'),
    jpegs,
    modelDir: ck.dir,
    threads: args.threads,
    sizes: args.collectionSizes,
    flatSizes: args.quick ? [10_000] : [10_000, 50_000, 100_000],
    queries: args.quick ? 20 : 100,
    parts,
    log,
  });
  const regionSchemes = parts.has('schemes')
    ? await benchRegionSchemes({ jpegs: jpegs.slice(0, 8), modelDir: ck.dir, threads: args.threads, queries: 8, log })
    : undefined;
  const regionSchemesTrained = parts.has('schemes')
    ? await benchRegionSchemesTrained({
        modelDir: resolve(REPO_ROOT, 'models', 'fgclip-synthetic'),
        dir: resolve(benchDir, 'collections', 'schemes-trained'),
        images: args.quick ? 20 : 100,
        threads: args.threads,
        log,
      })
    : undefined;
  const workers = parts.has('workers')
    ? await benchWorkers({ dir: resolve(benchDir, 'collections'), jpegs: jpegs.slice(0, Math.max(1, Math.floor(jpegs.length / 2))), modelDir: ck.dir, log })
    : undefined;
  return {
    ...r,
    parts: [...parts],
    ...(regionSchemes ? { regionSchemes } : {}),
    ...(regionSchemesTrained ? { regionSchemesTrained } : {}),
    ...(workers ? { workers } : {}),
  };
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
