/**
 * encodePixels (the Encoder's entry for images preprocessed elsewhere, e.g. by a server's decode pool) gives exactly
 * what encodeImages gives for the same images (bit for bit), batch boundaries included; bad input is a typed error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rejectsWith } from '../test-util/errors.js';
import { goldenPath } from '../test-util/goldens.js';
import { FgClip } from './handle.js';

const IMAGES = ['cat_dfclor.jpg', 'gradient_97x61.png', 'gray_50x50.png'].map((f) => goldenPath('images', f));

describe('encodePixels', () => {
  let m: FgClip;
  before(async () => {
    m = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1, batchSize: 2, preprocessWorkers: 0, graphCache: false });
  });
  after(() => m.dispose());

  test('3 images in batches of 2, with dense maps and boxes: identical to encodeImages', async () => {
    const boxes = IMAGES.map(() => [[0, 0, 20, 20]] as const);
    const pre = await Promise.all(IMAGES.map((f) => m.preprocess(f)));
    const a = await m.encodePixels(pre, { dense: true, boxes });
    const b = await m.encodeImages(IMAGES, { dense: true, boxes });
    assert.equal(a.length, 3);
    a.forEach((r, i) => {
      assert.deepEqual(r.embedding, b[i].embedding);
      assert.deepEqual(r.dense, b[i].dense);
      assert.deepEqual(r.regions, b[i].regions);
      assert.deepEqual([r.width, r.height], [b[i].width, b[i].height]);
    });
  });

  test('wrong pixel count, empty list, box lists not matching: INPUT_INVALID', async () => {
    const [p] = await Promise.all([m.preprocess(IMAGES[0])]);
    await rejectsWith(m.encodePixels([{ ...p, pixels: p.pixels.subarray(1) }]), 'INPUT_INVALID', /image 0 has the wrong length/, 'batchPixelValues');
    await rejectsWith(m.encodePixels([]), 'INPUT_INVALID', /empty/, 'encodePixels');
    await rejectsWith(m.encodePixels([p], { boxes: [] }), 'INPUT_INVALID', /0 box lists for 1 images/, 'encodePixels');
  });
});
