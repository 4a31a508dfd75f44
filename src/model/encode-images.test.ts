/**
 * encodeImages over more than one batch decodes in the worker pool while the model runs: outputs are identical to
 * the one-image-at-a-time path (bit for bit), in input order; a bad image is a typed error for the whole call.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { goldenPath } from '../test-util/goldens.js';
import { FgClipError } from '../errors.js';
import { FgClip } from './handle.js';

const IMAGES = ['cat_dfclor.jpg', 'gradient_97x61.png', 'gray_50x50.png', 'noise_rgba_40x120.png', 'tiny_7x5.png'].map((f) => goldenPath('images', f));

describe('encodeImages through the preprocessing worker pool', () => {
  let pooled: FgClip;
  let inline: FgClip;
  before(async () => {
    pooled = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1, batchSize: 2, preprocessWorkers: 2 });
    inline = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1, batchSize: 2, preprocessWorkers: 0 });
  });
  after(() => {
    pooled.dispose();
    inline.dispose();
  });

  test('11 images in batches of 2: same vectors as the in-thread path, in input order', async () => {
    const inputs = [...IMAGES, ...IMAGES, IMAGES[0]];
    const a = await pooled.encodeImages(inputs, { dense: true, boxes: inputs.map(() => [[0, 0, 5, 5]] as const) });
    const b = await inline.encodeImages(inputs, { dense: true, boxes: inputs.map(() => [[0, 0, 5, 5]] as const) });
    assert.equal(a.length, inputs.length);
    a.forEach((r, i) => {
      assert.deepEqual(Array.from(r.embedding), Array.from(b[i].embedding), `image ${i}`);
      assert.deepEqual([r.width, r.height], [b[i].width, b[i].height]);
      assert.deepEqual(Array.from(r.regions![0]), Array.from(b[i].regions![0]));
    });
  });

  test('an unreadable image among many rejects the call with IMAGE_DECODE naming it', async () => {
    const inputs = [...IMAGES, Buffer.from('not an image'), ...IMAGES];
    await assert.rejects(pooled.encodeImages(inputs), (e: unknown) => e instanceof FgClipError && e.code === 'IMAGE_DECODE');
    // the pool survives a failed call
    const [r] = (await pooled.encodeImages([...IMAGES, ...IMAGES])).slice(-1);
    assert.equal(r.width, 7);
  });

  test('in-thread path (decoding one image ahead): a bad image among many rejects with IMAGE_DECODE; the next call works', async () => {
    const inputs = [...IMAGES, Buffer.from('not an image'), ...IMAGES];
    await assert.rejects(inline.encodeImages(inputs), (e: unknown) => e instanceof FgClipError && e.code === 'IMAGE_DECODE');
    const again = await inline.encodeImages(IMAGES);
    assert.equal(again.length, IMAGES.length);
    assert.equal(again[4].width, 7);
  });
});
