/**
 * Every registered family in the browser build (dist/browser, rebuilt here) in Debian's Chromium: a config.json that
 * is not FG-CLIP v1 loads through the family seam (src/platform/browser/family-model.ts) with the browser's ports.
 *  - FG-CLIP 2 (the goldens' fgclip2-tiny, ../shared/goldens-v2): short, box and long texts, NaFlex images with dense
 *    rows and regions equal the goldens (rel L2 ≤ 1e-4 per vector, goldens-v2/README.md "Tolerances") and the Node
 *    library (same bound; the largest abs difference is reported); sigmoid probabilities as the model card's (abs 1e-4);
 *  - plain CLIP (fgclip-tiny's weights in the CLIPModel layout, as src/families/clip/clip.golden.test.ts builds it):
 *    short texts equal the goldens and Node, images (crop, the family's default) with dense and regions equal Node;
 *    'long' and 'box' texts are typed INPUT_INVALID errors, as on Node;
 *  - FG-CLIP v1 still takes its own worker path (family "fgclip", metered), and a "box" text is INPUT_INVALID there;
 *  - a config.json of an unknown architecture: the registry's CONFIG_INVALID error, in the page;
 *  - the OPFS graph cache of these families (graph-store.ts): the first load builds and stores, the second opens the
 *    stored graphs with the same outputs (max abs diff 0, FG-CLIP 2 also equal to the goldens; plain CLIP too);
 *    overwritten bytes or a truncated file in a stored entry → a warning, the entry removed and rebuilt with the same
 *    outputs; a staging folder that was never published is not read; cache: false writes no graphs.
 * Same harness as browser.e2e.test.ts (served dist/browser, src/test-util/browser-harness.js, isolation headers).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { FgClip } from '../../model/handle.js';
import { goldenPath, maxAbsDiff, REPO_ROOT, relL2 } from '../../test-util/goldens.js';
import { GOLDENS_V2, goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';
import { launchChromium } from '../../test-util/chromium.js';
import { startStaticServer, type StaticServer } from '../../test-util/static-server.js';
import { writeClipModel } from '../../test-util/clip-model.js';

const DIST = join(REPO_ROOT, 'dist', 'browser');
/** goldens-v2/README.md and goldens/README.md: per vector relative L2 ≤ 1e-4; probabilities abs ≤ 1e-4 */
const REL = 1e-4;
const PROB = 1e-4;

interface TextCase {
  texts: string[];
  features: number[][];
}
interface V2Cases {
  logit_bias: number;
  text_short: TextCase;
  text_box: TextCase;
  text_long: TextCase;
  probs: { long: { texts: string[] } };
  end_to_end: {
    cases: {
      image: string;
      image_features: number[];
      dense_features_valid: number[][];
      boxes_xyxy_pixels: number[][];
      region_features: number[][];
      card_long_probs: number[];
    }[];
  };
}
interface V1Cases {
  text_short: TextCase;
  end_to_end: { cases: { image: string }[] };
}
interface PageImage {
  embedding: number[];
  dense?: number[][];
  regions?: number[][];
  width: number;
  height: number;
  grid: [number, number];
}
interface Info {
  family: string;
  scoreKind: string;
  logitBias?: number;
  perImageResolution: boolean;
  textLengths: { short: number; long?: number; box?: number };
  embeddingDim: number;
  graphs: string;
  device: string;
}

const scratch = mkdtempSync(join(tmpdir(), 'fgclip-browser-families-'));
const CLIP_DIR = join(scratch, 'models', 'clip-tiny');
let browser: Browser;
let server: StaticServer;

/** the largest |a - b| over every vector compared, per model (reported) */
const worst: Record<string, number> = {};
function same(got: ArrayLike<number>, want: ArrayLike<number>, what: string, key: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const e = relL2(got, want);
  assert.ok(e <= REL, `${what}: rel L2 ${e.toExponential(2)} (≤ ${REL})`);
  worst[key] = Math.max(worst[key] ?? 0, maxAbsDiff(got, want));
}

/** fgclip-tiny as a CLIPModel checkpoint (src/test-util/clip-model.ts, as the clip family's golden test uses it) */
const toClipModel = writeClipModel;

async function open(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${server.url}/test/index.html`);
  await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true);
  return page;
}
const call = <T>(page: Page, expr: string): Promise<T> => page.evaluate(expr) as Promise<T>;
const js = (v: unknown) => JSON.stringify(v);
/** a page call that should fail: its typed error ({ code, message }) */
const failure = (page: Page, expr: string) =>
  call<{ code: string; message: string } | null>(page, `(${expr}).then(() => null, (e) => ({ code: e.code, message: e.message }))`);

before(async () => {
  const b = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-browser.mjs')], { stdio: 'inherit' });
  assert.equal(b.status, 0, 'scripts/build-browser.mjs failed');
  await toClipModel(CLIP_DIR);
  mkdirSync(join(scratch, 'models', 'unknown'), { recursive: true });
  cpSync(goldenPath('fgclip-tiny'), join(scratch, 'models', 'unknown'), { recursive: true });
  writeFileSync(join(scratch, 'models', 'unknown', 'config.json'), JSON.stringify({ architectures: ['BertModel'], model_type: 'bert' }));
  const harness = readFileSync(join(REPO_ROOT, 'src', 'test-util', 'browser-harness.js'), 'utf8');
  server = await startStaticServer(
    { '/goldens/': goldenPath(), '/goldens-v2/': GOLDENS_V2, '/models/': join(scratch, 'models'), '/': DIST },
    {
      '/test/harness.js': { type: 'text/javascript', body: harness },
      '/test/index.html': { type: 'text/html', body: '<!doctype html><title>fgclip families</title><script type="module" src="/test/harness.js"></script>' },
    },
  );
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('every registered family in Chromium, through the family seam', () => {
  test(`FG-CLIP 2 (fgclip2-tiny): short/box/long texts, NaFlex images, dense rows and regions equal the goldens and the Node library (rel L2 ≤ ${REL}); sigmoid probabilities (abs ≤ ${PROB})`, async (t) => {
    const C = readGoldenV2Json<V2Cases>('fgclip2-tiny.cases.json');
    const node = await FgClip.load(goldenV2Path('fgclip2-tiny'), { threads: 1, graphCache: false });
    const ctx = await browser.newContext();
    try {
      const page = await open(ctx);
      const { info } = await call<{ info: Info }>(page, `h.load('v2', '/goldens-v2/fgclip2-tiny/', { cache: false })`);
      assert.equal(info.family, 'fgclip2');
      assert.equal(info.graphs, 'built');
      assert.equal(info.scoreKind, 'sigmoid');
      assert.ok(Math.abs((info.logitBias ?? Number.NaN) - C.logit_bias) < 1e-6, `logitBias ${info.logitBias}`);
      assert.equal(info.perImageResolution, true);
      assert.deepEqual(info.textLengths, { short: 64, long: 196, box: 64 });

      for (const [mode, tc] of [
        ['short', C.text_short],
        ['box', C.text_box],
        ['long', C.text_long],
      ] as const) {
        const got = await call<{ embeddings: number[][]; modes: string[] }>(page, `h.texts('v2', ${js(tc.texts)}, ${js(mode)})`);
        assert.ok(
          got.modes.every((m) => m === mode),
          `${mode}: ${got.modes}`,
        );
        const want = await node.encodeTexts(tc.texts, { mode, normalize: false });
        tc.features.forEach((f, i) => {
          same(got.embeddings[i], f, `${mode} text ${i} vs golden`, 'fgclip2 golden');
          same(got.embeddings[i], want.embeddings[i], `${mode} text ${i} vs Node`, 'fgclip2 Node');
        });
      }

      const cases = C.end_to_end.cases;
      const boxes = cases.map((c) => c.boxes_xyxy_pixels);
      const got = await call<PageImage[]>(page, `h.images('v2', ${js(cases.map((c) => `/goldens-v2/${c.image}`))}, { dense: true, boxes: ${js(boxes)} })`);
      const want = await node.encodeImages(
        cases.map((c) => goldenV2Path(c.image)),
        { normalize: false, dense: true, boxes: boxes as unknown as [number, number, number, number][][] },
      );
      cases.forEach((c, i) => {
        assert.deepEqual([got[i].width, got[i].height], [want[i].width, want[i].height]);
        assert.deepEqual(got[i].grid, [...want[i].grid]);
        same(got[i].embedding, c.image_features, `${c.image} image vs golden`, 'fgclip2 golden');
        same(got[i].embedding, want[i].embedding, `${c.image} image vs Node`, 'fgclip2 Node');
        c.dense_features_valid.forEach((f, k) => same(got[i].dense?.[k] ?? [], f, `${c.image} dense ${k} vs golden`, 'fgclip2 golden'));
        want[i].dense?.forEach((f, k) => same(got[i].dense?.[k] ?? [], f, `${c.image} dense ${k} vs Node`, 'fgclip2 Node'));
        c.region_features.forEach((f, k) => {
          same(got[i].regions?.[k] ?? [], f, `${c.image} region ${k} vs golden`, 'fgclip2 golden');
          same(got[i].regions?.[k] ?? [], want[i].regions?.[k] ?? [], `${c.image} region ${k} vs Node`, 'fgclip2 Node');
        });
      });

      // the model card's sigmoid probabilities: the cat against the long captions
      const long = await call<{ embeddings: number[][] }>(page, `h.texts('v2', ${js(C.probs.long.texts)}, 'long')`);
      const probs = await call<number[]>(page, `h.probabilities('v2', ${js(got[0].embedding)}, ${js(long.embeddings)})`);
      assert.ok(maxAbsDiff(probs, cases[0].card_long_probs) <= PROB, `probabilities ${probs} vs ${cases[0].card_long_probs}`);
      t.diagnostic(`fgclip2-tiny: max abs diff vs Node ${worst['fgclip2 Node'].toExponential(2)}, vs the goldens ${worst['fgclip2 golden'].toExponential(2)}`);
    } finally {
      node.dispose();
      await ctx.close();
    }
  });

  test(`plain CLIP (fgclip-tiny as CLIPModel): texts equal the goldens and Node, images (crop) with dense and regions equal Node (rel L2 ≤ ${REL}); long and box texts are INPUT_INVALID`, async (t) => {
    const C = JSON.parse(readFileSync(goldenPath('fgclip-tiny.cases.json'), 'utf8')) as V1Cases;
    const node = await FgClip.load(CLIP_DIR, { threads: 1, graphCache: false });
    const ctx = await browser.newContext();
    try {
      const page = await open(ctx);
      const { info } = await call<{ info: Info }>(page, `h.load('clip', '/models/clip-tiny/', { cache: false })`);
      assert.equal(info.family, 'clip');
      assert.equal(info.scoreKind, 'softmax');
      assert.deepEqual(info.textLengths, { short: 77 });
      assert.equal(info.perImageResolution, false);

      const texts = await call<{ embeddings: number[][]; modes: string[] }>(page, `h.texts('clip', ${js(C.text_short.texts)})`);
      assert.ok(texts.modes.every((m) => m === 'short'));
      const nodeTexts = await node.encodeTexts(C.text_short.texts, { normalize: false });
      C.text_short.features.forEach((f, i) => {
        same(texts.embeddings[i], f, `text ${i} vs golden`, 'clip golden');
        same(texts.embeddings[i], nodeTexts.embeddings[i], `text ${i} vs Node`, 'clip Node');
      });

      const images = ['images/cat_dfclor.jpg', 'images/gradient_97x61.png', 'images/noise_rgba_40x120.png'];
      const boxes = [[[10, 20, 300, 400]], [[0, 0, 50, 30]], []];
      const got = await call<PageImage[]>(page, `h.images('clip', ${js(images.map((f) => `/goldens/${f}`))}, { dense: true, boxes: ${js(boxes)} })`);
      const want = await node.encodeImages(
        images.map((f) => goldenPath(f)),
        { normalize: false, dense: true, boxes: boxes as unknown as [number, number, number, number][][] },
      );
      images.forEach((f, i) => {
        assert.deepEqual([got[i].width, got[i].height], [want[i].width, want[i].height]);
        same(got[i].embedding, want[i].embedding, `${f} image vs Node`, 'clip Node');
        want[i].dense?.forEach((d, k) => same(got[i].dense?.[k] ?? [], d, `${f} dense ${k} vs Node`, 'clip Node'));
        assert.equal(got[i].regions?.length, boxes[i].length);
        want[i].regions?.forEach((r, k) => same(got[i].regions?.[k] ?? [], r, `${f} region ${k} vs Node`, 'clip Node'));
      });
      const probs = await call<number[]>(page, `h.probabilities('clip', ${js(got[0].embedding)}, ${js(texts.embeddings)})`);
      assert.ok(maxAbsDiff(probs, node.probabilities(want[0].embedding, nodeTexts.embeddings)) <= PROB, 'softmax probabilities vs Node');

      for (const mode of ['long', 'box']) {
        const e = await failure(page, `h.texts('clip', ['a photo of a cat'], ${js(mode)})`);
        assert.equal(e?.code, 'INPUT_INVALID', `${mode}: ${e?.message}`);
        assert.match(e?.message ?? '', new RegExp(`\\b${mode}\\b`));
      }
      t.diagnostic(
        `clip (fgclip-tiny weights): max abs diff vs Node ${worst['clip Node'].toExponential(2)}, texts vs the goldens ${worst['clip golden'].toExponential(2)}`,
      );
    } finally {
      node.dispose();
      await ctx.close();
    }
  });

  test("FG-CLIP v1 keeps its own worker path (metered weight loading): family 'fgclip', softmax, short and long lengths; 'box' texts are INPUT_INVALID", async () => {
    const ctx = await browser.newContext();
    try {
      const page = await open(ctx);
      const { info } = await call<{ info: Info & { memory?: unknown } }>(page, `h.load('v1', '/goldens/fgclip-tiny/', { cache: false })`);
      assert.equal(info.family, 'fgclip');
      assert.equal(info.scoreKind, 'softmax');
      assert.equal(info.perImageResolution, false);
      assert.deepEqual(info.textLengths, { short: 77, long: 248 });
      assert.ok(info.memory, 'the v1 path meters its weight loading');
      const e = await failure(page, `h.texts('v1', ['a photo of a cat'], 'box')`);
      assert.equal(e?.code, 'INPUT_INVALID', e?.message);
      assert.match(e?.message ?? '', /no box \(region-text\) path/);
    } finally {
      await ctx.close();
    }
  });

  test('the demo page with FG-CLIP 2: loads, says its probabilities are independent sigmoids, scores two captions, draws the heatmap', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
    try {
      const page = await ctx.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`${server.url}/demo/index.html?model=/goldens-v2/fgclip2-tiny/&device=wasm`);
      await page.click('#load');
      await page.waitForFunction(() => /Loaded|Could not/.test(document.getElementById('model-status')?.textContent ?? ''), undefined, { timeout: 60_000 });
      assert.match((await page.textContent('#model-status')) ?? '', /Loaded/);
      assert.match(
        (await page.textContent('#score-hint')) ?? '',
        /independent sigmoid\(exp\(logit_scale\)·cos \+ logit_bias\) per caption: they do not sum to 100%/,
      );
      await page.setInputFiles('#file', goldenPath('images', 'cat_dfclor.jpg'));
      await page.fill('#captions', 'a photo of a cat\na photo of a dog');
      await page.click('#run');
      await page.waitForSelector('.card .bar');
      const probs = await page.$$eval('.card .bar', (rows) => rows.map((r) => Number((r as HTMLElement).dataset.prob)));
      assert.equal(probs.length, 2);
      for (const p of probs) assert.ok(p > 0 && p < 1, `sigmoid probability ${p}`);
      assert.equal(await page.getAttribute('.card canvas.photo', 'data-heatmap'), 'drawn');
      assert.deepEqual(problems, []);
    } finally {
      await ctx.close();
    }
  });

  test("a config.json of an unknown architecture: the registry's CONFIG_INVALID error naming the known families, in the page", async () => {
    const ctx = await browser.newContext();
    try {
      const page = await open(ctx);
      const e = await call<{ code: string; message: string } | null>(page, `h.loadError('/models/unknown/', { cache: false })`);
      assert.equal(e?.code, 'CONFIG_INVALID');
      assert.match(e?.message ?? '', /config\.json: no model family loads architectures \["BertModel"\]\. Known families: fgclip .*fgclip2 .*clip /);
    } finally {
      await ctx.close();
    }
  });
});

/** What a model gives for a fixed set of inputs, to compare loads exactly. */
interface Outputs {
  texts: number[][];
  images: PageImage[];
}
/** the largest |a - b| over every vector of two Outputs */
function outputsDiff(a: Outputs, b: Outputs): number {
  let d = 0;
  const vec = (x: ArrayLike<number> | undefined, y: ArrayLike<number> | undefined, what: string) => {
    assert.ok(x && y && x.length === y.length && x.length > 0, `${what}: both present, same length`);
    d = Math.max(d, maxAbsDiff(x, y));
  };
  assert.equal(a.texts.length, b.texts.length);
  a.texts.forEach((t, i) => vec(t, b.texts[i], `text ${i}`));
  assert.equal(a.images.length, b.images.length);
  a.images.forEach((im, i) => {
    vec(im.embedding, b.images[i].embedding, `image ${i}`);
    assert.equal(im.dense?.length, b.images[i].dense?.length);
    im.dense?.forEach((r, k) => vec(r, b.images[i].dense?.[k], `image ${i} dense ${k}`));
    assert.equal(im.regions?.length, b.images[i].regions?.length);
    im.regions?.forEach((r, k) => vec(r, b.images[i].regions?.[k], `image ${i} region ${k}`));
  });
  return d;
}

/** the files fgclip keeps in OPFS for the family graph cache (fgclip/family-graphs/…) */
async function graphFiles(page: Page): Promise<string[]> {
  return (await call<{ files: string[] }>(page, 'h.storage()')).files.filter((f) => f.startsWith('fgclip/family-graphs/')).sort();
}

/** runs `body(dir)` in the page with dir = OPFS fgclip/family-graphs */
const inGraphStore = <T>(page: Page, body: string): Promise<T> =>
  call<T>(
    page,
    `(async () => { const dir = await (await (await navigator.storage.getDirectory()).getDirectoryHandle('fgclip')).getDirectoryHandle('family-graphs'); ${body} })()`,
  );

describe('the OPFS graph cache of the families that load through the seam (src/platform/browser/graph-store.ts)', () => {
  const V2 = '/goldens-v2/fgclip2-tiny/';

  /** loads `source` as `key`, encodes fixed texts and images, disposes; returns info and outputs */
  async function loadAndRun(
    page: Page,
    key: string,
    source: string,
    opts: Record<string, unknown>,
    inputs: { texts: [string[], string][]; images: string[]; boxes: number[][][] },
  ) {
    const { info } = await call<{ info: Info & { warnings: string[] } }>(page, `h.load(${js(key)}, ${js(source)}, ${js(opts)})`);
    const texts: number[][] = [];
    for (const [t, mode] of inputs.texts)
      texts.push(...(await call<{ embeddings: number[][] }>(page, `h.texts(${js(key)}, ${js(t)}, ${js(mode)})`)).embeddings);
    const images = await call<PageImage[]>(page, `h.images(${js(key)}, ${js(inputs.images)}, { dense: true, boxes: ${js(inputs.boxes)} })`);
    await call(page, `h.dispose(${js(key)})`);
    return { info, out: { texts, images } satisfies Outputs };
  }

  test('FG-CLIP 2 (fgclip2-tiny): the first load builds and stores the graphs, the second opens them from OPFS with identical outputs (max abs diff 0) equal to the goldens; cache: false leaves OPFS without graphs', async (t) => {
    const C = readGoldenV2Json<V2Cases>('fgclip2-tiny.cases.json');
    const cases = C.end_to_end.cases;
    const inputs = {
      texts: [
        [C.text_short.texts, 'short'],
        [C.text_long.texts, 'long'],
        [C.text_box.texts, 'box'],
      ] as [string[], string][],
      images: cases.map((c) => `/goldens-v2/${c.image}`),
      boxes: cases.map((c) => c.boxes_xyxy_pixels),
    };
    const ctx = await browser.newContext();
    try {
      const page = await open(ctx);
      // cache: false builds in memory and writes no graphs
      const none = await loadAndRun(page, 'v2', V2, { cache: false }, inputs);
      assert.equal(none.info.graphs, 'built');
      assert.deepEqual(await graphFiles(page), []);
      assert.deepEqual(
        (await call<{ files: string[] }>(page, 'h.storage()')).files.filter((f) => f.startsWith('fgclip/tmp/')),
        [],
      );

      const first = await loadAndRun(page, 'v2', V2, {}, inputs);
      assert.equal(first.info.graphs, 'built');
      const stored = await graphFiles(page);
      assert.equal(stored.filter((f) => /^fgclip\/family-graphs\/[0-9a-f]{32}\.json$/.test(f)).length, 1, `one published entry: ${stored}`);
      for (const f of ['text.onnx', 'text.weights.bin', 'tables.bin'])
        assert.ok(
          stored.some((s) => s.endsWith(`/${f}`)),
          `${f} stored: ${stored}`,
        );
      assert.equal(outputsDiff(first.out, none.out), 0, 'built with the cache = built in memory');

      const second = await loadAndRun(page, 'v2', V2, {}, inputs);
      assert.equal(second.info.graphs, 'graph-cache');
      assert.deepEqual(
        second.info.warnings.filter((w) => /graph cache/.test(w)),
        [],
      );
      assert.equal(outputsDiff(second.out, first.out), 0, 'graphs from OPFS = graphs built');
      assert.deepEqual(await graphFiles(page), stored, 'a cache hit writes nothing');
      // and they are the reference's numbers
      const want = [...C.text_short.features, ...C.text_long.features, ...C.text_box.features];
      want.forEach((f, i) => same(second.out.texts[i], f, `text ${i} from the graph cache vs golden`, 'fgclip2 cache golden'));
      cases.forEach((c, i) => same(second.out.images[i].embedding, c.image_features, `${c.image} from the graph cache vs golden`, 'fgclip2 cache golden'));
      t.diagnostic(`fgclip2-tiny from the OPFS graph cache: max abs diff vs the goldens ${worst['fgclip2 cache golden'].toExponential(2)}`);
    } finally {
      await ctx.close();
    }
  });

  test('FG-CLIP 2: a cached graph with overwritten bytes or truncated is reported, removed and rebuilt (outputs equal the first build); an entry whose staging was never published is not used', async () => {
    const C = readGoldenV2Json<V2Cases>('fgclip2-tiny.cases.json');
    const cases = C.end_to_end.cases.slice(0, 1);
    const inputs = {
      texts: [[C.text_short.texts, 'short']] as [string[], string][],
      images: cases.map((c) => `/goldens-v2/${c.image}`),
      boxes: cases.map((c) => c.boxes_xyxy_pixels),
    };
    const ctx = await browser.newContext();
    try {
      const page = await open(ctx);
      const first = await loadAndRun(page, 'v2', V2, {}, inputs);
      assert.equal(first.info.graphs, 'built');

      // 1. 64 bytes in the middle of the vision weights overwritten (same size: only the sha256 can tell)
      const hit = await inGraphStore<string>(
        page,
        `for await (const [n, h] of dir.entries()) if (h.kind === 'directory') for await (const [f, fh] of h.entries()) if (/^vision-\\d+\\.weights\\.bin$/.test(f)) {
           const size = (await fh.getFile()).size;
           const w = await fh.createWritable({ keepExistingData: true });
           await w.write({ type: 'write', position: Math.floor(size / 2), data: new Uint8Array(64).fill(0x7f) });
           await w.close();
           return n + '/' + f + ' ' + size;
         }
         return null;`,
      );
      assert.ok(hit, 'a stored vision weights file to damage');
      const damaged = await loadAndRun(page, 'v2', V2, {}, inputs);
      assert.equal(damaged.info.graphs, 'built', 'the damaged entry is not used');
      assert.ok(
        damaged.info.warnings.some((w) => /graph cache: .* is damaged \(vision-\d+\.weights\.bin does not match its sha256/.test(w)),
        `warning: ${damaged.info.warnings}`,
      );
      assert.equal(outputsDiff(damaged.out, first.out), 0, 'rebuilt: the first build outputs');
      const afterDamage = await graphFiles(page);
      assert.ok(!afterDamage.some((f) => hit.startsWith(f.split('/')[2])), `the damaged folder was removed: ${afterDamage}`);
      const again = await loadAndRun(page, 'v2', V2, {}, inputs);
      assert.equal(again.info.graphs, 'graph-cache', 'the rebuilt entry is stored');
      assert.equal(outputsDiff(again.out, first.out), 0);

      // 2. the text graph's weights truncated
      await inGraphStore(
        page,
        `for await (const [, h] of dir.entries()) if (h.kind === 'directory') for await (const [f, fh] of h.entries()) if (f === 'text.weights.bin') {
           const w = await fh.createWritable({ keepExistingData: true });
           await w.truncate(Math.floor((await fh.getFile()).size / 3));
           await w.close();
         }`,
      );
      const truncated = await loadAndRun(page, 'v2', V2, {}, inputs);
      assert.equal(truncated.info.graphs, 'built');
      assert.ok(
        truncated.info.warnings.some((w) => /is damaged \(text\.weights\.bin has \d+ bytes, the entry says \d+\)/.test(w)),
        `warning: ${truncated.info.warnings}`,
      );
      assert.equal(outputsDiff(truncated.out, first.out), 0);

      // 3. a staging that was never published (a reload or crash before <key>.json was written): its complete
      // folder is left, the published name is gone — the next load builds again, with no warning
      const removed = await inGraphStore<string[]>(
        page,
        `const gone = []; for await (const [n, h] of dir.entries()) if (h.kind === 'file' && n.endsWith('.json')) { await dir.removeEntry(n); gone.push(n); } return gone;`,
      );
      assert.equal(removed.length, 1);
      const staged = await graphFiles(page);
      assert.ok(staged.length > 0 && staged.every((f) => !f.endsWith('.json')), `an unpublished staging folder: ${staged}`);
      const unpublished = await loadAndRun(page, 'v2', V2, {}, inputs);
      assert.equal(unpublished.info.graphs, 'built', 'an unpublished staging folder is never read');
      assert.deepEqual(
        unpublished.info.warnings.filter((w) => /graph cache/.test(w)),
        [],
      );
      assert.equal(outputsDiff(unpublished.out, first.out), 0);
      const last = await loadAndRun(page, 'v2', V2, {}, inputs);
      assert.equal(last.info.graphs, 'graph-cache');
      assert.equal(outputsDiff(last.out, first.out), 0);
    } finally {
      await ctx.close();
    }
  });

  test('plain CLIP (fgclip-tiny as CLIPModel): the second load opens the graphs from OPFS, with identical outputs (max abs diff 0)', async () => {
    const inputs = {
      texts: [[['a photo of a cat', 'a photo of a dog'], 'short']] as [string[], string][],
      images: ['/goldens/images/cat_dfclor.jpg', '/goldens/images/gradient_97x61.png'],
      boxes: [[[10, 20, 300, 400]], [[0, 0, 50, 30]]],
    };
    const ctx = await browser.newContext();
    try {
      const page = await open(ctx);
      const first = await loadAndRun(page, 'clip', '/models/clip-tiny/', {}, inputs);
      assert.equal(first.info.family, 'clip');
      assert.equal(first.info.graphs, 'built');
      const second = await loadAndRun(page, 'clip', '/models/clip-tiny/', {}, inputs);
      assert.equal(second.info.graphs, 'graph-cache');
      assert.equal(outputsDiff(second.out, first.out), 0);
      const none = await loadAndRun(page, 'clip', '/models/clip-tiny/', { cache: false }, inputs);
      assert.equal(none.info.graphs, 'built');
      assert.equal(outputsDiff(none.out, first.out), 0);
    } finally {
      await ctx.close();
    }
  });
});
