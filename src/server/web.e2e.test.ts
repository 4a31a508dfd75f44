/**
 * End to end in a real browser: Debian's /usr/bin/chromium driven by playwright-core opens the page served by
 * the server (fgclip-tiny), uploads the golden photo, types two captions, and checks the three views:
 * probabilities that sum to 100 % (± 0.2 for the rounding of two displayed values), one heatmap image per
 * caption, and region results for a box drawn with the mouse. One analysis is one API request (/v1/analyze) and one
 * vision pass (the server's image-lane item count grows by exactly one), boxes included. Saves
 * docs/screenshot-heatmap.png when FGCLIP_UPDATE_SCREENSHOTS=1 (test-util/screenshots.ts).
 * Without /usr/bin/chromium this test fails (it is the browser check CI relies on); install it with
 * `apt-get install -y chromium`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { screenshotPath } from '../test-util/screenshots.js';
import { CAT, get, metricValue, start, type Running } from './test-helpers.js';
import { launchChromium } from '../test-util/chromium.js';

let browser: Browser;
let r: Running;

before(async () => {
  browser = await launchChromium();
  r = await start();
});

after(async () => {
  await browser?.close();
  await r?.server.close();
});

test('web page: upload, two captions → probabilities summing to 100 %, a heatmap per caption, a mouse-drawn box classified', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (q) => problems.push(`request failed: ${q.url()}`));
  page.on(
    'request',
    (q) => !q.url().startsWith(r.url) && !q.url().startsWith('data:') && !q.url().startsWith('blob:') && problems.push(`off-origin request: ${q.url()}`),
  );

  await page.goto(r.url);
  await page.waitForFunction(() => document.getElementById('model-name')?.textContent?.includes('fgclip-tiny'));
  await page.setInputFiles('#file', CAT);
  await page.waitForSelector('#stage:not([hidden]) #preview');
  assert.match((await page.textContent('#image-info')) ?? '', /640 × 480/);

  const captions = ['a photo of a cat', 'a photo of a dog'];
  await page.fill('#captions', captions.join('\n'));
  const imagesSeen = async () => metricValue((await get(`${r.url}/metrics`)).json as string, 'fgclip_batch_size_sum', { lane: 'image' });
  const apiCalls: string[] = [];
  const onRequest = (q: { method(): string; url(): string }) => q.method() === 'POST' && apiCalls.push(new URL(q.url()).pathname);
  page.on('request', onRequest);
  const before = await imagesSeen();
  await page.click('#run');

  await page.waitForFunction(() => document.querySelectorAll('#probs [data-prob]').length === 2);
  const shown = await page.$$eval('#probs .bar', (rows) =>
    rows.map((row) => ({ label: row.querySelector('.bar-label')?.textContent, text: row.querySelector('.bar-value')?.textContent ?? '' })),
  );
  assert.deepEqual(
    shown.map((s) => s.label),
    captions,
  );
  const percents = shown.map((s) => Number(s.text.replace('%', '')));
  assert.ok(
    percents.every((p) => p >= 0 && p <= 100),
    `percentages ${percents}`,
  );
  assert.ok(Math.abs(percents.reduce((a, b) => a + b, 0) - 100) <= 0.2, `displayed percentages ${percents} sum to ~100`);

  await page.waitForFunction(
    () => Array.from(document.querySelectorAll<HTMLImageElement>('#heatmaps img')).filter((i) => i.complete && i.naturalWidth > 0).length === 2,
  );
  const heat = await page.$$eval('#heatmaps figure', (figs) =>
    figs.map((f) => ({ caption: f.querySelector('figcaption')?.textContent, alt: f.querySelector('img')?.alt, w: f.querySelector('img')?.naturalWidth ?? 0 })),
  );
  assert.deepEqual(
    heat.map((h) => h.caption),
    captions,
  );
  assert.ok(heat.every((h) => h.w > 100 && h.alt?.includes('Heatmap')));
  assert.deepEqual(apiCalls, ['/v1/analyze'], 'one request per analysis');
  assert.equal((await imagesSeen()) - before, 1, 'one vision pass per analysis: classification and both heatmaps');
  page.off('request', onRequest);

  const box = await page.locator('#overlay').boundingBox();
  assert.ok(box && box.width > 100, 'overlay canvas covers the image');
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
  const [x1, y1, x2, y2] = (/\[(\d+), (\d+), (\d+), (\d+)\]/.exec(region) ?? []).slice(1).map(Number);
  assert.ok(
    Math.abs(x1 - 288) <= 4 && Math.abs(y1 - 72) <= 4 && Math.abs(x2 - 576) <= 4 && Math.abs(y2 - 456) <= 4,
    `box in image pixels: ${[x1, y1, x2, y2]}`,
  );

  // with a box drawn, a new analysis is still one request and one vision pass (regions come from the same pass)
  const calls2: string[] = [];
  page.on('request', (q) => q.method() === 'POST' && calls2.push(new URL(q.url()).pathname));
  const before2 = await imagesSeen();
  await page.click('#run');
  await page.waitForFunction(
    () =>
      document.querySelectorAll('#regions li.region').length === 1 &&
      document.querySelectorAll('#heatmaps img').length === 2 &&
      !(document.getElementById('run') as HTMLButtonElement).disabled,
  );
  assert.deepEqual(calls2, ['/v1/analyze']);
  assert.equal((await imagesSeen()) - before2, 1, 'one vision pass for classification, heatmaps and the box');

  // keyboard path: focus reaches the caption box and the box form
  await page.focus('#captions');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'captions');

  await page.locator('#heatmap-section').screenshot({ path: screenshotPath('screenshot-heatmap.png') });
  assert.deepEqual(problems, []);
  await page.close();
});
