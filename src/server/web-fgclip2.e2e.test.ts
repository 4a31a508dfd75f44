/**
 * The web page with an FG-CLIP 2 checkpoint (goldens-v2 fgclip2-tiny, model in its worker thread), in Debian's
 * /usr/bin/chromium: upload the model card's photo, type an English and a Chinese caption, and check what is shown —
 * the probabilities are the model's independent sigmoids (the page says so, and they need not sum to 100 %), equal
 * to the library's within the display's rounding; one heatmap per caption; a mouse-drawn box classified against the
 * captions. One request (/v1/analyze, without text_mode: the server's defaults, so the heatmaps take the box head)
 * and one vision pass per analysis.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { FgClip } from '../model/handle.js';
import { goldenV2Path } from '../test-util/goldens-v2.js';
import { ModelHost } from './model-host.js';
import { createServer, type FgClipServer } from './server.js';
import { get, metricValue } from './test-helpers.js';
import { launchChromium } from '../test-util/chromium.js';

const CAT = goldenV2Path('images', 'cat_dfclor.jpg');

let browser: Browser;
let host: ModelHost;
let server: FgClipServer;
let url: string;

before(async () => {
  browser = await launchChromium();
  host = await ModelHost.start(goldenV2Path('fgclip2-tiny'), { threads: 1, graphCache: false, preprocessThreads: 1 });
  server = createServer({ model: host, port: 0, host: '127.0.0.1', log: false });
  url = await server.listen();
});

after(async () => {
  await browser?.close();
  await server?.close();
  await host?.close();
});

test('web page with FG-CLIP 2: sigmoid probabilities (said on the page), a heatmap per caption, a box classified', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (q) => problems.push(`request failed: ${q.url()}`));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('model-name')?.textContent?.includes('fgclip2-tiny'));
  await page.setInputFiles('#file', CAT);
  await page.waitForSelector('#stage:not([hidden]) #preview');

  const captions = ['a photo of a cat', '一只黑猫'];
  await page.fill('#captions', captions.join('\n'));
  const imagesSeen = async () => metricValue((await get(`${url}/metrics`)).json as string, 'fgclip_batch_size_sum', { lane: 'image' });
  const calls: string[] = [];
  const bodies: Record<string, unknown>[] = [];
  page.on('request', (q) => {
    if (q.method() !== 'POST') return;
    calls.push(new URL(q.url()).pathname);
    bodies.push(JSON.parse(q.postData() ?? '{}'));
  });
  const before = await imagesSeen();
  await page.click('#run');
  await page.waitForFunction(() => document.querySelectorAll('#probs [data-prob]').length === 2);
  assert.match((await page.textContent('#probs-hint')) ?? '', /sigmoid/);
  const shown = await page.$$eval('#probs .bar', (rows) =>
    rows.map((row) => ({
      label: row.querySelector('.bar-label')?.textContent,
      prob: Number((row.querySelector('[data-prob]') as HTMLElement).dataset.prob),
      text: row.querySelector('.bar-value')?.textContent ?? '',
    })),
  );
  assert.deepEqual(
    shown.map((s) => s.label),
    captions,
  );
  const lib = await FgClip.load(goldenV2Path('fgclip2-tiny'), { graphCache: false, preprocessWorkers: 0 });
  try {
    const [img] = await lib.encodeImages([CAT]);
    const want = lib.probabilities(img.embedding, (await lib.encodeTexts(captions)).embeddings);
    shown.forEach((s, i) => {
      assert.ok(Math.abs(s.prob - want[i]) <= 1e-5, `${s.label}: ${s.prob} vs ${want[i]}`);
      const pct = want[i] * 100;
      assert.equal(s.text, `${pct.toFixed(pct >= 10 ? 1 : 2)}%`);
    });
  } finally {
    lib.dispose();
  }

  await page.waitForFunction(
    () => Array.from(document.querySelectorAll<HTMLImageElement>('#heatmaps img')).filter((i) => i.complete && i.naturalWidth > 0).length === 2,
  );
  assert.deepEqual(calls, ['/v1/analyze'], 'one request per analysis');
  // no text_mode: the server's default applies (auto for the classification, the box head for FG-CLIP 2's heatmaps)
  assert.equal(bodies[0].text_mode, undefined);
  assert.equal((await imagesSeen()) - before, 1, 'one vision pass per analysis');

  const box = await page.locator('#overlay').boundingBox();
  assert.ok(box && box.width > 100);
  await page.mouse.move(box.x + box.width * 0.45, box.y + box.height * 0.15);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.95, { steps: 8 });
  await page.mouse.up();
  await page.waitForSelector('#regions li.region');
  const region = (await page.textContent('#regions li.region')) ?? '';
  assert.match(region, /Box 1 \[\d+, \d+, \d+, \d+\]/);
  assert.ok(
    captions.some((c) => region.includes(c)),
    `region result names a caption: ${region}`,
  );
  assert.deepEqual(problems, []);
  await page.close();
});
