/**
 * The web page's collection gallery in a real browser (Debian's /usr/bin/chromium via playwright-core): a server
 * with a collection of generated images (fgclip-tiny) shows the gallery; typing a caption lists the top images best
 * first with the API's cosine scores (same order, 4 decimals); a region query draws each result's box on its
 * thumbnail (the canvas has red pixels, and the box equals the API's). Saves docs/screenshot-gallery.jpg when
 * FGCLIP_UPDATE_SCREENSHOTS=1 (test-util/screenshots.ts).
 * A server without a collection keeps the gallery hidden.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { Collection } from '../collection/collection.js';
import { indexCollection } from '../collection/indexer.js';
import { writePng } from '../test-util/fixtures.js';
import { screenshotPath } from '../test-util/screenshots.js';
import { post, start, tinyModel, type Running } from './test-helpers.js';
import { launchChromium } from '../test-util/chromium.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-gallery-'));
let browser: Browser;
let r: Running;
let bare: Running;
let coll: Collection;

before(async () => {
  const photos = join(ROOT, 'photos');
  mkdirSync(photos);
  for (let i = 0; i < 8; i++) await writePng(join(photos, `g${i}.png`), 120 + 10 * i, 90 + 6 * i, 500 + i);
  await indexCollection(await tinyModel(), join(ROOT, 'coll'), [photos]);
  coll = await Collection.open(join(ROOT, 'coll'));
  browser = await launchChromium();
  r = await start({ collection: coll });
  bare = await start();
});

after(async () => {
  await browser?.close();
  await r?.server.close();
  await bare?.server.close();
  coll?.close();
  rmSync(ROOT, { recursive: true, force: true });
});

test('gallery: a caption lists the top images with their cosine scores; a region query draws the boxes', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (q) => !q.url().startsWith(r.url) && !q.url().startsWith('data:') && problems.push(`off-origin request: ${q.url()}`));
  await page.goto(r.url);
  await page.waitForSelector('#gallery-section:not([hidden])');
  assert.match((await page.textContent('#gallery-info')) ?? '', /8 image\(s\) in the collection/);

  const caption = 'a red circle next to a green square';
  await page.fill('#gallery-query', caption);
  await page.fill('#gallery-top', '5');
  await page.click('#gallery-run');
  await page.waitForFunction(() => document.querySelectorAll('#gallery li.hit').length === 5);
  const api = await post(`${r.url}/v1/collection/search`, { text: caption, top_k: 5 });
  const shown = await page.$$eval('#gallery li.hit', (lis) =>
    lis.map((li) => ({ score: li.querySelector('.hit-score')?.textContent, path: li.querySelector('.hit-path')?.textContent })),
  );
  assert.deepEqual(
    shown.map((s) => s.path),
    api.json.results.map((x: { path: string }) => x.path),
  );
  assert.deepEqual(
    shown.map((s) => s.score),
    api.json.results.map((x: { score: number }) => x.score.toFixed(4)),
  );
  await page.waitForFunction(() => Array.from(document.querySelectorAll<HTMLImageElement>('#gallery img')).every((i) => i.complete && i.naturalWidth > 0));

  await page.check('#gallery-regions');
  await page.click('#gallery-run');
  await page.waitForFunction(() => document.querySelectorAll('#gallery li.hit[data-box]').length === 5);
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll<HTMLCanvasElement>('#gallery canvas')).every((c) => {
      if (c.width === 0 || c.height === 0) return false;
      const d = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
      if (!d) return false;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 3] > 0) return true; // the red box outline
      return false;
    }),
  );
  const apiR = await post(`${r.url}/v1/collection/search`, { text: caption, top_k: 5, regions: true });
  const boxes = await page.$$eval('#gallery li.hit', (lis) => lis.map((li) => (li as HTMLElement).dataset.box));
  assert.deepEqual(
    boxes,
    apiR.json.results.map((x: { box: number[] }) => x.box.map((v) => Math.round(v)).join(',')),
  );
  await page.locator('#gallery-section').screenshot({ path: screenshotPath('screenshot-gallery.jpg'), type: 'jpeg', quality: 70 });
  assert.deepEqual(problems, []);
  await page.close();
});

test('gallery: hidden when the server has no collection', async () => {
  const page = await browser.newPage();
  const answered = page.waitForResponse((q) => q.url().endsWith('/v1/collection'));
  await page.goto(bare.url);
  assert.equal((await answered).status(), 404);
  await page.waitForFunction(() => document.getElementById('model-name')?.textContent?.includes('fgclip-tiny'));
  assert.equal(await page.$eval('#gallery-section', (s) => (s as HTMLElement).hidden), true);
  await page.close();
});
