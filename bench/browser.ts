/**
 * Browser figures for `npm run bench` (issue 12): fg-clip-base shapes (the synthetic checkpoint) in Debian's
 * Chromium, onnxruntime-web wasm in the fgclip worker with 2 threads (cross-origin isolated page), against
 * onnxruntime-node in the same run on the same inputs:
 *  - images/s: encodeImages of 8 JPEGs (1024×768, decode + Pillow-exact resize + vision tower), median of runs;
 *  - texts/s: encodeTexts of 32 short prompts;
 *  - first visit: download (loopback static server) + verify + graph build into OPFS + sessions, from the HF-layout
 *    checkpoint and from an `fgclip export` folder; second visit: the same load from OPFS (new page, same profile);
 *  - bundle bytes: JS the wasm path loads, and the wasm files, raw and gzipped;
 *  - memory: what the loader held of the weights while creating the sessions (info.memory, counted, not sampled);
 *  - WebGPU on SwiftShader's software adapter (the only adapter here: --enable-unsafe-webgpu) against wasm in the same
 *    page, on the small golden checkpoint (fg-clip-base on a software rasterizer takes minutes per call).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Page } from 'playwright-core';
import { exportModel } from '../src/export/export.js';
import { FgClip } from '../src/model/handle.js';
import { CHROMIUM, CHROMIUM_FLAGS, launchChromium } from '../src/test-util/chromium.js';
import { goldenPath } from '../src/test-util/goldens.js';
import { startStaticServer } from '../src/test-util/static-server.js';
import { shortPrompts } from './captions.js';
import { median, timeRuns } from './stats.js';
import { REPO_ROOT, type SyntheticCheckpoint } from './synthetic.js';

export interface BrowserBench {
  readonly chromium: string;
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  readonly imagesPerSec: { readonly page: number; readonly node: number; readonly ratio: number };
  readonly textsPerSec: { readonly page: number; readonly node: number; readonly ratio: number };
  readonly loadSeconds: { readonly checkpointFirst: number; readonly checkpointSecond: number; readonly exportFirst: number; readonly exportSecond: number };
  /** how each load got its graphs (ModelInfo.graphs): the second visits must say 'graph-cache' / 'export' from OPFS */
  readonly graphs: { readonly checkpointFirst: string; readonly checkpointSecond: string };
  /** the first visit from the checkpoint, split: graph build started at (download + hash before it), its duration (after it: small files, sessions) */
  readonly checkpointFirstSplit: { readonly buildStartedAt: number; readonly buildSeconds: number };
  /** 1-minute load average before and after the section (2-core machine) */
  readonly loadAverage: { readonly before: number; readonly after: number };
  readonly bundle: { readonly jsBytes: number; readonly jsGzip: number; readonly wasm: Record<string, { bytes: number; gzip: number }> };
  /** the first checkpoint visit's info.memory: weight files, the larger file (the loader's old peak), the loader's peak */
  readonly memory: { readonly weightFileBytes: number; readonly largestFileBytes: number; readonly loaderPeakBytes: number };
  /** golden fgclip-small, same page: WebGPU on SwiftShader vs wasm (2 threads); undefined when no adapter appeared */
  readonly webgpuSoftware?: {
    readonly adapter: string;
    readonly imagesPerSec: { readonly webgpu: number; readonly wasm: number };
    readonly textsPerSec: { readonly webgpu: number; readonly wasm: number };
  };
  readonly runs: number;
}

export interface BrowserBenchOptions {
  readonly ck: SyntheticCheckpoint;
  readonly jpegs: readonly string[];
  readonly benchDir: string;
  readonly runs: number;
  readonly log: (m: string) => void;
}

const DIST = join(REPO_ROOT, 'dist', 'browser');

function bundleBytes(): BrowserBench['bundle'] {
  // what the wasm path loads: index.js, worker.js and every chunk but the WebGPU build of onnxruntime-web
  const js = [
    'index.js',
    'worker.js',
    ...readdirSync(join(DIST, 'chunks'))
      .filter((f) => f.endsWith('.js') && !f.startsWith('ort.webgpu'))
      .map((f) => `chunks/${f}`),
  ];
  let jsBytes = 0;
  let jsGzip = 0;
  for (const f of js) {
    const b = readFileSync(join(DIST, f));
    jsBytes += b.length;
    jsGzip += gzipSync(b, { level: 9 }).length;
  }
  const wasm: Record<string, { bytes: number; gzip: number }> = {};
  for (const f of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.wasm', 'chunks/mozjpeg_dec.wasm', 'chunks/squoosh_png_bg.wasm']) {
    const b = readFileSync(join(DIST, f));
    wasm[f] = { bytes: b.length, gzip: gzipSync(b, { level: 9 }).length };
  }
  return { jsBytes, jsGzip, wasm };
}

interface LoadTiming {
  readonly seconds: number;
  readonly memory: BrowserBench['memory'];
  readonly graphs: string;
  /** seconds from the start of the load to the graph build's first progress event (weights downloaded and hashed by then) */
  readonly buildStartedAt: number;
  /** seconds between the graph build's first and last progress events (0: no build) */
  readonly buildSeconds: number;
}

async function load(page: Page, key: string, source: string): Promise<LoadTiming> {
  const r = (await page.evaluate(`h.load(${JSON.stringify(key)}, ${JSON.stringify(source)}, { device: 'wasm', threads: 2 })`)) as {
    ms: number;
    info: { graphs: string; memory: BrowserBench['memory'] };
    progress: { phase: string; t: number }[];
  };
  const at = (phase: string) => r.progress.filter((p) => p.phase === phase).map((p) => p.t / 1000);
  const build = at('build');
  return {
    seconds: r.ms / 1000,
    memory: r.info.memory,
    graphs: r.info.graphs,
    buildStartedAt: build.length ? Math.min(...build) : 0,
    buildSeconds: build.length ? Math.max(...build) - Math.min(...build) : 0,
  };
}

export async function benchBrowser(o: BrowserBenchOptions): Promise<BrowserBench> {
  const loadBefore = loadavg()[0];
  const b = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-browser.mjs')], { stdio: 'inherit' });
  if (b.status !== 0) throw new Error('scripts/build-browser.mjs failed');
  const exportDir = join(o.benchDir, 'fg-clip-base-export-fp32');
  if (!existsSync(join(exportDir, 'fgclip-export.json'))) {
    o.log('browser: exporting synthetic fg-clip-base (fp32)');
    await exportModel(o.ck.dir, exportDir, { dtype: 'fp32', force: true });
  }
  const jpegDir = join(o.jpegs[0], '..');
  const server = await startStaticServer(
    { '/ck/': o.ck.dir, '/export/': exportDir, '/img/': jpegDir, '/goldens/': goldenPath(), '/': DIST },
    {
      '/test/harness.js': { type: 'text/javascript', body: readFileSync(join(REPO_ROOT, 'src', 'test-util', 'browser-harness.js'), 'utf8') },
      '/test/index.html': { type: 'text/html', body: '<!doctype html><script type="module" src="/test/harness.js"></script>' },
    },
  );
  // a persistent profile: an incognito context's OPFS quota is too small for fg-clip-base's checkpoint + graphs
  const profile = mkdtempSync(join(tmpdir(), 'fgclip-bench-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: [...CHROMIUM_FLAGS] });
  const images = o.jpegs.slice(0, 8);
  const urls = images.map((p) => `/img/${p.split('/').pop()}`);
  const texts = shortPrompts(32);
  try {
    const open = async () => {
      const page = await ctx.newPage();
      await page.goto(`${server.url}/test/index.html`);
      await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true);
      return page;
    };
    let page = await open();
    o.log('browser: first visit, HF-layout checkpoint (download + verify + build graphs into OPFS + sessions)');
    const ckFirst = await load(page, 'ck', '/ck/');
    o.log(
      `browser: first visit ${ckFirst.seconds.toFixed(1)} s (graphs: ${ckFirst.graphs}; graph build from ${ckFirst.buildStartedAt.toFixed(1)} s for ${ckFirst.buildSeconds.toFixed(1)} s)`,
    );
    await page.close();
    page = await open();
    const ckSecond = await load(page, 'ck', '/ck/');
    o.log(`browser: second visit ${ckSecond.seconds.toFixed(1)} s (graphs: ${ckSecond.graphs})`);
    if (ckSecond.graphs !== 'graph-cache')
      throw new Error(`browser bench: the second visit got its graphs from '${ckSecond.graphs}', not the OPFS graph cache`);
    await page.evaluate(`h.dispose('ck')`);
    o.log('browser: export folder, first and second visit');
    const exportFirst = (await load(page, 'ex', '/export/')).seconds;
    o.log(`browser: export first visit ${exportFirst.toFixed(1)} s`);
    await page.evaluate(`h.dispose('ex')`);
    await page.close();
    page = await open();
    const exportSecond = (await load(page, 'ex', '/export/')).seconds;
    o.log(`browser: export second visit ${exportSecond.toFixed(1)} s`);
    await page.evaluate(`h.dispose('ex')`);
    const info = (await page.evaluate(`h.load('ck', '/ck/', { device: 'wasm', threads: 2 })`)) as { info: { threads: number; crossOriginIsolated: boolean } };
    o.log(`browser: throughput (${o.runs} runs)`);
    const pageImg = (await page.evaluate(`h.timeImages('ck', ${JSON.stringify(urls)}, ${o.runs})`)) as number[];
    o.log(`browser: page images, ms per call of ${urls.length}: ${pageImg.map((x) => x.toFixed(0)).join(' ')}`);
    const pageTxt = (await page.evaluate(`h.timeTexts('ck', ${JSON.stringify(texts)}, ${o.runs})`)) as number[];
    o.log(`browser: page texts, ms per call of ${texts.length}: ${pageTxt.map((x) => x.toFixed(0)).join(' ')}`);
    await page.evaluate(`h.dispose('ck')`);
    const chromiumVersion = /Chrome\/([\d.]+)/.exec(String(await page.evaluate('navigator.userAgent')))?.[1] ?? 'unknown';
    await ctx.close();

    const webgpuSoftware = await softwareWebGpu(server.url, o);

    const node = await FgClip.load(o.ck.dir, { threads: 2, preprocessWorkers: 0 });
    let nodeImg: number[];
    let nodeTxt: number[];
    try {
      nodeImg = await timeRuns(() => node.encodeImages(images), o.runs);
      o.log(`browser: onnxruntime-node images, ms per call: ${nodeImg.map((x) => x.toFixed(0)).join(' ')}`);
      nodeTxt = await timeRuns(() => node.encodeTexts(texts), o.runs);
      o.log(`browser: onnxruntime-node texts, ms per call: ${nodeTxt.map((x) => x.toFixed(0)).join(' ')}`);
    } finally {
      node.dispose();
    }
    const ips = (ms: number[], n: number) => (n * 1000) / median(ms);
    const im = { page: ips(pageImg, images.length), node: ips(nodeImg, images.length) };
    const tx = { page: ips(pageTxt, texts.length), node: ips(nodeTxt, texts.length) };
    return {
      chromium: chromiumVersion,
      threads: info.info.threads,
      crossOriginIsolated: info.info.crossOriginIsolated,
      imagesPerSec: { ...im, ratio: im.page / im.node },
      textsPerSec: { ...tx, ratio: tx.page / tx.node },
      loadSeconds: { checkpointFirst: ckFirst.seconds, checkpointSecond: ckSecond.seconds, exportFirst, exportSecond },
      graphs: { checkpointFirst: ckFirst.graphs, checkpointSecond: ckSecond.graphs },
      checkpointFirstSplit: { buildStartedAt: ckFirst.buildStartedAt, buildSeconds: ckFirst.buildSeconds },
      loadAverage: { before: loadBefore, after: loadavg()[0] },
      bundle: bundleBytes(),
      memory: ckFirst.memory,
      ...(webgpuSoftware ? { webgpuSoftware } : {}),
      runs: o.runs,
    };
  } finally {
    await ctx.close().catch(() => undefined);
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Golden fgclip-small on SwiftShader's WebGPU adapter and on wasm, same page (a browser of its own: the adapter flag). */
async function softwareWebGpu(url: string, o: BrowserBenchOptions): Promise<BrowserBench['webgpuSoftware']> {
  const b = await launchChromium(['--enable-unsafe-webgpu']);
  try {
    const page = await (await b.newContext()).newPage();
    await page.goto(`${url}/test/index.html`);
    await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true);
    const imgs = Array(8).fill('/goldens/images/cat_dfclor.jpg');
    const texts = shortPrompts(32);
    const out: Record<string, { img: number; txt: number }> = {};
    let adapter = '';
    for (const device of ['wasm', 'webgpu']) {
      const l = (await page.evaluate(
        `h.load(${JSON.stringify(device)}, '/goldens/fgclip-small/', { device: ${JSON.stringify(device)}, cache: false, threads: 2 })`,
      )) as { info: { device: string; webgpuAdapter?: { vendor: string; architecture: string; isFallbackAdapter: boolean } } };
      if (l.info.device !== device) return undefined;
      if (device === 'webgpu')
        adapter = `${l.info.webgpuAdapter?.vendor} ${l.info.webgpuAdapter?.architecture}${l.info.webgpuAdapter?.isFallbackAdapter ? ' (fallback adapter)' : ''}`;
      const im = (await page.evaluate(`h.timeImages(${JSON.stringify(device)}, ${JSON.stringify(imgs)}, ${o.runs})`)) as number[];
      const tx = (await page.evaluate(`h.timeTexts(${JSON.stringify(device)}, ${JSON.stringify(texts)}, ${o.runs})`)) as number[];
      o.log(
        `browser: fgclip-small on ${device}: images ms per call of 8 ${im.map((x) => x.toFixed(0)).join(' ')}; texts ms per call of 32 ${tx.map((x) => x.toFixed(0)).join(' ')}`,
      );
      out[device] = { img: (8 * 1000) / median(im), txt: (32 * 1000) / median(tx) };
      await page.evaluate(`h.dispose(${JSON.stringify(device)})`);
    }
    return { adapter, imagesPerSec: { webgpu: out.webgpu.img, wasm: out.wasm.img }, textsPerSec: { webgpu: out.webgpu.txt, wasm: out.wasm.txt } };
  } finally {
    await b.close();
  }
}

export function formatBrowser(r: BrowserBench, weightBytes: number): string {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  return [
    `browser (Chromium ${r.chromium}, onnxruntime-web wasm, ${r.threads} threads, cross-origin isolated: ${r.crossOriginIsolated}; fg-clip-base shapes, ${mib(weightBytes)} fp32 weights; medians of ${r.runs} runs)`,
    `  images/s (8 JPEGs 1024×768 per call): page ${r.imagesPerSec.page.toFixed(2)}, onnxruntime-node ${r.imagesPerSec.node.toFixed(2)} (page/node ${r.imagesPerSec.ratio.toFixed(2)})`,
    `  texts/s (32 short prompts per call):  page ${r.textsPerSec.page.toFixed(1)}, onnxruntime-node ${r.textsPerSec.node.toFixed(1)} (page/node ${r.textsPerSec.ratio.toFixed(2)})`,
    `  load, HF-layout checkpoint: first visit ${r.loadSeconds.checkpointFirst.toFixed(1)} s (download + sha256 until the graph build starts at ${r.checkpointFirstSplit.buildStartedAt.toFixed(1)} s, build into OPFS ${r.checkpointFirstSplit.buildSeconds.toFixed(1)} s, then sessions), second visit ${r.loadSeconds.checkpointSecond.toFixed(1)} s (OPFS)`,
    `  load, fgclip export folder: first visit ${r.loadSeconds.exportFirst.toFixed(1)} s, second visit ${r.loadSeconds.exportSecond.toFixed(1)} s`,
    `  memory while creating the sessions: the loader held at most ${mib(r.memory.loaderPeakBytes)} of weights (one initializer at a time) of ${mib(r.memory.weightFileBytes)} in the weight files (the larger file, ${mib(r.memory.largestFileBytes)}, was the peak when each file was read whole)`,
    ...(r.webgpuSoftware
      ? [
          `  WebGPU on ${r.webgpuSoftware.adapter} vs wasm, golden fgclip-small, same page: images/s ${r.webgpuSoftware.imagesPerSec.webgpu.toFixed(1)} vs ${r.webgpuSoftware.imagesPerSec.wasm.toFixed(1)}, texts/s ${r.webgpuSoftware.textsPerSec.webgpu.toFixed(1)} vs ${r.webgpuSoftware.textsPerSec.wasm.toFixed(1)}`,
        ]
      : ['  WebGPU: no adapter appeared with --enable-unsafe-webgpu']),
    `  load average (1 min) ${r.loadAverage.before.toFixed(2)} before, ${r.loadAverage.after.toFixed(2)} after`,
    `  bundle: JS ${mib(r.bundle.jsBytes)} (${mib(r.bundle.jsGzip)} gzipped); ${Object.entries(r.bundle.wasm)
      .map(([f, s]) => `${f} ${mib(s.bytes)} (${mib(s.gzip)} gz)`)
      .join(', ')}`,
  ].join('\n');
}
