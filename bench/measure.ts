/**
 * The figures for one model at one dtype. Every rate is a median over timed runs after warm-up (stats.ts); a
 * figure whose warm-up run took longer than SLOW_MS uses at most 3 timed runs, to keep the large model's suite short.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { FgClip } from '../src/model/handle.js';
import { resizeForModel, decodeImage } from '../src/preprocess/index.js';
import { longCaptions, shortPrompts } from './captions.js';
import type { ChildRequest, ChildResult } from './child.js';
import { measureE2e, type E2eResult } from './e2e.js';
import { ownVisionSessions } from './global-only.js';
import { cosine, median, timeInterleaved, timeRuns } from './stats.js';
import { REPO_ROOT, type SyntheticCheckpoint } from './synthetic.js';

const SLOW_MS = 4000;
const SHORT_N = 32;
const LONG_N = 16;
const TEXT_BATCH = 16; // encodeTexts' own batch (max(batchSize, 16))
const BOXES_PER_IMAGE = 4;

export interface SuiteOptions {
  readonly threads: number;
  readonly runs: number;
  readonly warmup: number;
  readonly batch: number;
  readonly benchDir: string;
  readonly jpegs: readonly string[];
  /** the fp32-only figures: features (global-only graph, regions) and end-to-end */
  readonly full: boolean;
  readonly log: (m: string) => void;
}

export interface Timing {
  readonly medianMs: number;
  readonly bestMs: number;
  readonly runs: number[];
}

export interface Outputs {
  readonly image: Float32Array[];
  readonly dense: Float32Array[][];
  readonly textShort: Float32Array[];
  readonly textLong: Float32Array[];
}

export interface CosineStats {
  readonly min: number;
  readonly mean: number;
}

export interface DtypeResult {
  readonly dtype: string;
  readonly available: boolean;
  readonly note?: string;
  readonly load?: {
    coldMs: number;
    coldFromCache: boolean | null;
    reloadSameProcessMs: number | null;
    warmNewProcessMs: number;
    warmFromCache: boolean | null;
    mainFromCache: boolean | null;
  };
  readonly memory?: { baselineRss: number; peakRssCold: number; peakRssWarm: number; peakRssColdPerWeightByte: number; peakRssWarmPerWeightByte: number };
  readonly images?: { b1: Timing; b8: Timing; b1PerSec: number; b8PerSec: number };
  readonly texts?: {
    shortPerSec: number;
    longPerSec: number;
    shortCutModelPerSec: number;
    shortPadded77ModelPerSec: number;
    /** padded-to-77 time / cut time, model only */
    cutSpeedup: number;
    shortMeanTokens: number;
    longMeanTokens: number;
    longModes: string[];
  };
  readonly features?: {
    runVisionMsPerImage: number;
    encodeWithRegionsMsPerImage: number;
    /** bench-built sessions (global-only.ts): global only, and global + dense built the same way */
    ownGlobalOnlyMsPerImage: number | null;
    ownFullMsPerImage: number | null;
    /** own full / own global-only: what the dense branch adds to a vision pass */
    denseOverhead: number | null;
    /** encodeImages(S×S RGB, dense, 4 boxes) / runVision: preprocessing copy + normalize, RoIAlign, L2 norms */
    regionsOverhead: number;
    globalOnlyNote?: string;
  };
  readonly e2e?: E2eResult;
  readonly cosineToFp32?: { image: CosineStats; dense: CosineStats; textShort: CosineStats; textLong: CosineStats };
  outputs?: Outputs;
}

async function timed(fn: () => Promise<unknown>, o: SuiteOptions): Promise<Timing> {
  const t = performance.now();
  for (let i = 0; i < o.warmup; i++) await fn();
  const warm = (performance.now() - t) / Math.max(o.warmup, 1);
  const runs = await timeRuns(fn, warm > SLOW_MS ? Math.min(o.runs, 3) : o.runs, 0);
  return { medianMs: median(runs), bestMs: Math.min(...runs), runs };
}

/** The run count `timed` chose for a figure of this cost (fewer for slow ones). */
function runsFor(t: Timing, o: SuiteOptions): number {
  return t.runs.length < o.runs ? t.runs.length : o.runs;
}

function runChild(req: ChildRequest): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'child.ts'), JSON.stringify(req)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench child exited with ${code}: ${err.trim().split('\n').slice(0, 6).join('\n')}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as ChildResult);
    });
  });
}

function cacheFlag(m: FgClip): boolean | null {
  const v = (m as unknown as { fromGraphCache?: unknown }).fromGraphCache;
  return typeof v === 'boolean' ? v : null;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function cosineStats(a: readonly Float32Array[], b: readonly Float32Array[]): CosineStats {
  const c = a.map((x, i) => cosine(x, b[i]));
  return { min: Math.min(...c), mean: c.reduce((s, x) => s + x, 0) / c.length };
}

function identical(a: readonly Float32Array[], b: readonly Float32Array[]): boolean {
  return a.length === b.length && a.every((x, i) => x.length === b[i].length && x.every((v, j) => Object.is(v, b[i][j])));
}

export async function measureDtype(ck: SyntheticCheckpoint, dtype: string, o: SuiteOptions, reference?: Outputs): Promise<DtypeResult> {
  const graphCache = join(o.benchDir, 'graphs', `${ck.name}-${dtype}`);
  rmSync(graphCache, { recursive: true, force: true });
  const req: ChildRequest = { dir: ck.dir, dtype, threads: o.threads, graphCache, batch: o.batch, reload: true };
  let cold: ChildResult;
  try {
    o.log(`  ${dtype}: child process, cold load (empty graph cache) + reload`);
    cold = await runChild(req);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (dtype !== 'fp32' && /dtype/i.test(msg)) return { dtype, available: false, note: `FgClip.load refused dtype ${dtype}: ${msg.split('\n')[0]}` };
    throw e;
  }
  o.log(`  ${dtype}: child process, warm load (graph cache filled)`);
  const warm = await runChild({ ...req, reload: false });

  o.log(`  ${dtype}: loading in the benchmark process`);
  const m = await FgClip.load(ck.dir, { threads: o.threads, batchSize: o.batch, dtype, graphCache } as Parameters<typeof FgClip.load>[1]);
  try {
    const S = m.imageSize;
    const rgb = await Promise.all(o.jpegs.slice(0, o.batch).map(async (f) => resizeForModel(await decodeImage(f), S, 'squash')));
    const pre = await Promise.all(rgb.map((r) => m.preprocess(r)));
    const px8 = concat(pre.map((p) => p.pixels));
    const px1 = pre[0].pixels;

    o.log(`  ${dtype}: vision batch 1 and ${o.batch}`);
    const b1 = await timed(() => m.runVision(px1), o);
    const b8 = await timed(() => m.runVision(px8), o);
    const vis = await m.runVision(px8);
    // figures as they come, so a run stopped by a time limit still leaves them in the log
    o.log(`  ${dtype}: images/s batch 1 ${(1000 / b1.medianMs).toFixed(2)}, batch ${o.batch} ${((o.batch * 1000) / b8.medianMs).toFixed(2)}`);

    o.log(`  ${dtype}: text`);
    const shorts = shortPrompts(SHORT_N);
    const longs = longCaptions(LONG_N, (s) => m.tokenizer.countTokens(s));
    const tShort = await timed(() => m.encodeTexts(shorts), o);
    const tLong = await timed(() => m.encodeTexts(longs), o);
    const ids = shorts.map((s) => m.tokenizer.encode(s, { maxLength: m.textLengths.short }).ids);
    const byBatch = async (cut: boolean) => {
      for (let s = 0; s < ids.length; s += TEXT_BATCH) await m.runText(ids.slice(s, s + TEXT_BATCH), 'short', cut);
    };
    const [cutRuns, padRuns] = await timeInterleaved([() => byBatch(true), () => byBatch(false)], o.runs, o.warmup);
    const tCut = { medianMs: median(cutRuns) };
    o.log(`  ${dtype}: texts/s short ${((SHORT_N * 1000) / tShort.medianMs).toFixed(1)}, long ${((LONG_N * 1000) / tLong.medianMs).toFixed(1)}`);
    const tPad = { medianMs: median(padRuns) };
    const shortEnc = await m.encodeTexts(shorts, { normalize: false });
    const longEnc = await m.encodeTexts(longs, { normalize: false });
    const outputs: Outputs = { image: vis.image, dense: vis.dense, textShort: shortEnc.embeddings, textLong: longEnc.embeddings };
    const counts = shortEnc.tokenCounts;

    let features: DtypeResult['features'];
    let e2e: E2eResult | undefined;
    if (o.full) {
      o.log(`  ${dtype}: features (regions, global-only graph)`);
      const boxes = rgb.map(
        () =>
          [
            [0, 0, S / 2, S / 2],
            [S / 4, S / 4, (3 * S) / 4, (3 * S) / 4],
            [0, 0, S, S],
            [S / 3, 0, S, S / 2],
          ].slice(0, BOXES_PER_IMAGE) as [number, number, number, number][],
      );
      const [visRuns, regionRuns] = await timeInterleaved([() => m.runVision(px8), () => m.encodeImages(rgb, { boxes, dense: true })], runsFor(b8, o), 1);
      const tRegions = { medianMs: median(regionRuns) };
      const tVision = { medianMs: median(visRuns) };
      let own: { globalMs: number; fullMs: number } | null = null;
      let globalOnlyNote: string | undefined;
      try {
        const g = await ownVisionSessions(ck.dir, o.threads, dtype);
        try {
          const [tg, tf] = await timeInterleaved([() => g.global(px8, o.batch), () => g.full(px8, o.batch)], runsFor(b8, o), 1);
          own = { globalMs: median(tg) / o.batch, fullMs: median(tf) / o.batch };
        } finally {
          await g.release();
        }
      } catch (e) {
        globalOnlyNote = `global-only graph not measured: ${e instanceof Error ? e.message : String(e)}`;
      }
      features = {
        runVisionMsPerImage: tVision.medianMs / o.batch,
        encodeWithRegionsMsPerImage: tRegions.medianMs / o.batch,
        ownGlobalOnlyMsPerImage: own?.globalMs ?? null,
        ownFullMsPerImage: own?.fullMs ?? null,
        denseOverhead: own ? own.fullMs / own.globalMs : null,
        regionsOverhead: tRegions.medianMs / tVision.medianMs,
        ...(globalOnlyNote ? { globalOnlyNote } : {}),
      };
      o.log(`  ${dtype}: end-to-end over ${o.jpegs.length} JPEGs`);
      e2e = await measureE2e(m, o.jpegs, { batch: o.batch, poolWorkers: [...new Set([1, o.threads])] });
    }

    const sameAsFp32 = reference && dtype !== 'fp32' && identical(outputs.image, reference.image);
    return {
      dtype,
      available: !sameAsFp32,
      ...(sameAsFp32 ? { note: `dtype ${dtype} gave outputs bit-identical to fp32: the option is not in effect` } : {}),
      load: {
        coldMs: cold.loadMs,
        coldFromCache: cold.fromGraphCache,
        reloadSameProcessMs: cold.reloadMs,
        warmNewProcessMs: warm.loadMs,
        warmFromCache: warm.fromGraphCache,
        mainFromCache: cacheFlag(m),
      },
      memory: {
        baselineRss: cold.baselineRss,
        peakRssCold: cold.peakRss,
        peakRssWarm: warm.peakRss,
        peakRssColdPerWeightByte: cold.peakRss / ck.weightBytes,
        peakRssWarmPerWeightByte: warm.peakRss / ck.weightBytes,
      },
      images: { b1, b8, b1PerSec: 1000 / b1.medianMs, b8PerSec: (o.batch * 1000) / b8.medianMs },
      texts: {
        shortPerSec: (SHORT_N * 1000) / tShort.medianMs,
        longPerSec: (LONG_N * 1000) / tLong.medianMs,
        shortCutModelPerSec: (SHORT_N * 1000) / tCut.medianMs,
        shortPadded77ModelPerSec: (SHORT_N * 1000) / tPad.medianMs,
        cutSpeedup: tPad.medianMs / tCut.medianMs,
        shortMeanTokens: counts.reduce((a, b) => a + b, 0) / counts.length,
        longMeanTokens: longEnc.tokenCounts.reduce((a, b) => a + b, 0) / longEnc.tokenCounts.length,
        longModes: [...new Set(longEnc.modes)],
      },
      ...(features ? { features } : {}),
      ...(e2e ? { e2e } : {}),
      ...(reference && dtype !== 'fp32'
        ? {
            cosineToFp32: {
              image: cosineStats(outputs.image, reference.image),
              dense: cosineStats(outputs.dense.flat(), reference.dense.flat()),
              textShort: cosineStats(outputs.textShort, reference.textShort),
              textLong: cosineStats(outputs.textLong, reference.textLong),
            },
          }
        : {}),
      outputs,
    };
  } finally {
    m.dispose();
  }
}
