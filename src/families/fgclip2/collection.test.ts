/**
 * A collection indexed and searched with an FG-CLIP 2 checkpoint (fgclip2-tiny, NaFlex: every image has its own
 * patch grid): text search scores are the cosines of the model's own encodeTexts/encodeImages vectors (abs 1e-5),
 * best first; region search pools each image's dense map on that image's own h×w grid and embeds the query with the
 * box head, so the best region's score equals the cosine of the box-walk query with the model's region feature of that box; a v1 model is refused on the v2 collection.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Collection } from '../../collection/collection.js';
import { indexCollection } from '../../collection/indexer.js';
import { schemeBoxes, toPixels } from '../../collection/regions.js';
import { searchCollection } from '../../collection/search.js';
import { FgClip } from '../../model/handle.js';
import { rejectsWith } from '../../test-util/errors.js';
import { goldenPath } from '../../test-util/goldens.js';
import { goldenV2Path } from '../../test-util/goldens-v2.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip2-coll-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i], 0);

describe('Collection with an FG-CLIP 2 checkpoint', () => {
  let model: FgClip;
  const dir = join(ROOT, 'photos');
  const uri = join(ROOT, 'coll');
  let pngs: string[];
  before(async () => {
    model = await FgClip.load(goldenV2Path('fgclip2-tiny'), { graphCache: false, preprocessWorkers: 0 });
    mkdirSync(dir);
    pngs = readdirSync(goldenV2Path('images')).filter((f) => f.endsWith('.png'));
    for (const f of pngs) copyFileSync(goldenV2Path('images', f), join(dir, f));
  });
  after(() => model.dispose());

  test('index then text search: scores are the cosines of the model vectors, best first', async () => {
    const r = await indexCollection(model, uri, [dir]);
    assert.deepEqual([r.added, r.total], [pngs.length, pngs.length]);
    const c = await Collection.open(uri);
    try {
      const q = 'a photo of a cat';
      const out = await searchCollection(model, c, { text: q }, { top: pngs.length });
      assert.equal(out.results.length, pngs.length);
      const [t] = (await model.encodeTexts([q])).embeddings;
      const enc = await model.encodeImages(out.results.map((x) => x.path));
      out.results.forEach((x, i) => assert.ok(Math.abs(x.score - dot(t, enc[i].embedding)) < 1e-5, `${x.path}: ${x.score} vs ${dot(t, enc[i].embedding)}`));
      for (let i = 1; i < out.results.length; i++) assert.ok(out.results[i - 1].score >= out.results[i].score);
    } finally {
      c.close();
    }
  });

  test("region search pools each image's dense map on its own grid (the model's region features)", async () => {
    const c = await Collection.open(uri);
    try {
      const q = 'a small red square';
      const out = await searchCollection(model, c, { text: q }, { top: 3, regions: true });
      assert.equal(out.results.length, 3);
      // a region query takes the box (region-text) head, as FG-CLIP 2's box tasks do
      const [t] = (await model.encodeTexts([q], { mode: 'box' })).embeddings;
      const [short] = (await model.encodeTexts([q], { mode: 'short' })).embeddings;
      assert.ok(Math.abs(dot(t, short) - 1) > 1e-3, 'the box and short walks differ for this query');
      const boxes = schemeBoxes('grid', model.gridSize);
      for (const r of out.results) {
        const [e0] = await model.encodeImages([r.path], { normalize: false });
        const pixelBoxes = boxes.map((b) => toPixels(b, e0.width, e0.height));
        const [e] = await model.encodeImages([r.path], { boxes: [pixelBoxes] });
        const scores = (e.regions as Float32Array[]).map((v) => dot(t, v));
        const k = scores.indexOf(Math.max(...scores));
        assert.ok(Math.abs(r.score - scores[k]) < 1e-5, `${r.path}: best region ${scores[k]} vs ${r.score}`);
      }
    } finally {
      c.close();
    }
  });

  test('a v1 model is refused on the FG-CLIP 2 collection', async () => {
    const v1 = await FgClip.load(goldenPath('fgclip-tiny'), { graphCache: false, preprocessWorkers: 0 });
    const c = await Collection.open(uri);
    try {
      await rejectsWith(searchCollection(v1, c, { text: 'a cat' }), 'COLLECTION_MODEL_MISMATCH', /holds vectors of model/, '');
    } finally {
      c.close();
      v1.dispose();
    }
  });
});
