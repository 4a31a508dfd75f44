/**
 * One model in a fresh process, so its peak RSS is not polluted by other models or the benchmark itself:
 *   load (timed) → one vision batch + one short and one long text batch → maxRSS → [optionally] dispose and
 *   load again in the same process (timed: the library's caches now warm).
 * Usage: node --import tsx bench/child.ts '<json ChildRequest>'; prints one JSON ChildResult line on stdout.
 */
import { readFileSync } from 'node:fs';
import { FgClip } from '../src/model/handle.js';
import { longCaptions, shortPrompts } from './captions.js';
import { Rng } from './synthetic.js';

export interface ChildRequest {
  readonly dir: string;
  readonly dtype: string;
  readonly threads: number;
  /** graph cache folder handed to FgClip.load (`graphCache`) */
  readonly graphCache: string;
  readonly batch: number;
  readonly reload: boolean;
}

export interface ChildResult {
  /** RSS right after the imports, before loading (node + onnxruntime + sharp) */
  readonly baselineRss: number;
  readonly loadMs: number;
  readonly fromGraphCache: boolean | null;
  /** process.resourceUsage().maxRSS in bytes, after load + inference */
  readonly peakRss: number;
  readonly reloadMs: number | null;
  readonly reloadFromGraphCache: boolean | null;
}

function cacheFlag(m: FgClip): boolean | null {
  const v = (m as unknown as { fromGraphCache?: unknown }).fromGraphCache;
  return typeof v === 'boolean' ? v : null;
}

async function main(req: ChildRequest): Promise<ChildResult> {
  const baselineRss = process.memoryUsage().rss;
  const opts = { threads: req.threads, dtype: req.dtype, graphCache: req.graphCache } as Parameters<typeof FgClip.load>[1];
  let t = performance.now();
  const m = await FgClip.load(req.dir, opts);
  const loadMs = performance.now() - t;
  const fromGraphCache = cacheFlag(m);
  const S = m.imageSize;
  const rng = new Rng(5);
  await m.runVision(Float32Array.from({ length: req.batch * 3 * S * S }, () => rng.normal()));
  await m.encodeTexts(shortPrompts(16));
  await m.encodeTexts(longCaptions(4, (s) => m.tokenizer.countTokens(s)));
  const peakRss = peakRssBytes();
  m.dispose();
  if (!req.reload) return { baselineRss, loadMs, fromGraphCache, peakRss, reloadMs: null, reloadFromGraphCache: null };
  t = performance.now();
  const m2 = await FgClip.load(req.dir, opts);
  const reloadMs = performance.now() - t;
  const reloadFromGraphCache = cacheFlag(m2);
  m2.dispose();
  return { baselineRss, loadMs, fromGraphCache, peakRss, reloadMs, reloadFromGraphCache };
}

/**
 * Peak RSS of this process. Linux keeps getrusage's ru_maxrss across fork + exec, so a child spawned by a large
 * benchmark process would report its parent's size; /proc/self/status VmHWM belongs to this process image only.
 */
function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall back to getrusage
  }
  return process.resourceUsage().maxRSS * 1024;
}

main(JSON.parse(process.argv[2] ?? '{}') as ChildRequest).then(
  (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
  (e: unknown) => {
    process.stderr.write(`bench child: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
