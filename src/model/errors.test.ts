/**
 * Bad input to the library API is a typed FgClipError with a clear message, never a crash or a silent answer:
 * boxes outside the image or inverted, empty lists, wrong modes, truncated captions reported, disposed handles,
 * broken image bytes, an over-limit image.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FgClipError, type FgClipErrorCode } from '../errors.js';
import { goldenPath } from '../test-util/goldens.js';
import { FgClip } from './handle.js';

const CAT = goldenPath('images', 'cat_dfclor.jpg'); // 640×480

function code(c: FgClipErrorCode, re?: RegExp) {
  return (e: unknown) => e instanceof FgClipError && e.code === c && (!re || re.test(e.message));
}

describe('FgClip API errors', () => {
  let m: FgClip;
  before(async () => {
    m = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1 });
  });
  after(() => m.dispose());

  test('a box entirely outside the image is BOX_INVALID naming the box and the image size', async () => {
    await assert.rejects(m.encodeImages([CAT], { boxes: [[[700, 0, 800, 10]]] }), code('BOX_INVALID', /entirely outside the 640×480 image/));
    await assert.rejects(m.encodeImages([CAT], { boxes: [[[-50, -50, -1, -1]]] }), code('BOX_INVALID', /outside/));
  });

  test('an inverted box (x2 < x1 or y2 < y1) and a non-finite box are BOX_INVALID', async () => {
    await assert.rejects(m.encodeImages([CAT], { boxes: [[[300, 10, 100, 200]]] }), code('BOX_INVALID', /x2 < x1/));
    await assert.rejects(m.encodeImages([CAT], { boxes: [[[10, 300, 100, 200]]] }), code('BOX_INVALID', /y2 < y1/));
    await assert.rejects(m.encodeImages([CAT], { boxes: [[[0, 0, Number.NaN, 10]]] }), code('BOX_INVALID', /finite/));
  });

  test('a box partly outside the image is kept as the reference computes it (RoIAlign zero-pads outside samples)', async () => {
    const [r] = await m.encodeImages([CAT], { boxes: [[[600, 400, 700, 520]]] });
    assert.equal(r.regions?.length, 1);
    assert.ok(r.regions![0].every(Number.isFinite));
  });

  test('empty image and text lists, and a box list per image that does not match, are INPUT_INVALID', async () => {
    await assert.rejects(m.encodeImages([]), code('INPUT_INVALID', /empty/));
    await assert.rejects(m.encodeTexts([]), code('INPUT_INVALID', /empty/));
    await assert.rejects(m.encodeImages([CAT, CAT], { boxes: [[[0, 0, 10, 10]]] }), code('INPUT_INVALID', /1 box lists for 2 images/));
    await assert.rejects(m.encodeTexts(['a'], { mode: 'medium' as never }), code('INPUT_INVALID', /'short', 'long', 'box' or 'auto'/));
    await assert.rejects(m.getImageFeatures(new Float32Array(10)), code('INPUT_INVALID', /multiple of 3\*32\*32/));
  });

  test('over-long captions are truncated and reported, never silently: auto picks long past 77 tokens', async () => {
    const long = Array(300).fill('word').join(' ');
    const mid = Array(100).fill('word').join(' ');
    const r = await m.encodeTexts(['a cat', mid, long]);
    assert.deepEqual(r.modes, ['short', 'long', 'long']);
    assert.deepEqual(r.truncated, [false, false, true]);
    assert.deepEqual(r.tokenCounts, [4, 102, 302]);
    const s = await m.encodeTexts([mid], { mode: 'short' });
    assert.deepEqual(s.truncated, [true]);
  });

  test('image bytes that are not an image, an empty buffer and an over-limit image are typed errors', async () => {
    await assert.rejects(m.encodeImages([Buffer.from('definitely not a jpeg')]), code('IMAGE_DECODE'));
    await assert.rejects(m.encodeImages([new Uint8Array(0)]), code('IMAGE_DECODE'));
    const small = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1, maxPixels: 1000 });
    try {
      await assert.rejects(small.encodeImages([CAT]), code('IMAGE_TOO_LARGE'));
    } finally {
      small.dispose();
    }
  });

  test('a disposed model refuses work with DISPOSED', async () => {
    const d = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1 });
    d.dispose();
    d.dispose(); // idempotent
    await assert.rejects(d.encodeTexts(['a cat']), code('DISPOSED'));
  });

  test('loading: a folder that does not exist, and bad options, are typed errors', async () => {
    await assert.rejects(FgClip.load('/nonexistent/fgclip-model'), code('MODEL_NOT_FOUND'));
    await assert.rejects(FgClip.load(goldenPath('fgclip-tiny'), { imageSize: 33 }), code('INPUT_INVALID', /multiple of the patch size 8/));
    await assert.rejects(FgClip.load(goldenPath('fgclip-tiny'), { threads: 0 }), code('INPUT_INVALID', /threads/));
  });
});

test('the WebGPU provider on a machine without a GPU adapter fails with a clear RUNTIME error, not a crash', async () => {
  await assert.rejects(FgClip.load(goldenPath('fgclip-tiny'), { executionProvider: 'webgpu' }), code('RUNTIME', /WebGPU needs a GPU adapter/));
  await assert.rejects(FgClip.load(goldenPath('fgclip-tiny'), { executionProvider: 'cuda' as never }), code('INPUT_INVALID', /cpu or webgpu/));
});
