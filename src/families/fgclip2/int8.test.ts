/**
 * int8 (dynamic quantization of the encoders' linear layers) on FG-CLIP 2: every tower and head runs, and agrees
 * with fp32 at cosine ≥ 0.9 on fgclip2-small. The bound is loose on purpose: the goldens' random weights amplify
 * attention (×1.5–3), which makes quantization error larger than on trained weights; int8 is approximate by design.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { goldenV2Path } from '../../test-util/goldens-v2.js';
import type { Fgclip2Model } from './model.js';
import { loadFgclip2Model } from '../../test-util/fgclip2.js';

const cos = (x: Float32Array, y: Float32Array) => {
  let s = 0;
  let n = 0;
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i] * y[i];
    n += x[i] * x[i];
    m += y[i] * y[i];
  }
  return s / Math.sqrt(n * m);
};

describe('FG-CLIP 2 int8 vs fp32 (fgclip2-small)', () => {
  let fp32: Fgclip2Model;
  let int8: Fgclip2Model;
  before(async () => {
    fp32 = await loadFgclip2Model(goldenV2Path('fgclip2-small'), { threads: 1 });
    int8 = await loadFgclip2Model(goldenV2Path('fgclip2-small'), { threads: 1, dtype: 'int8' });
  });
  after(async () => {
    await fp32?.dispose();
    await int8?.dispose();
  });

  it('image, dense and text features (three walks) at cosine ≥ 0.9', async () => {
    const imgs = ['cat_dfclor.jpg', 'gradient_120x90.png'].map((f) => goldenV2Path('images', f));
    const [a, b] = [await fp32.encodeImages(imgs, { dense: true }), await int8.encodeImages(imgs, { dense: true })];
    a.forEach((r, i) => {
      assert.ok(cos(r.embedding, b[i].embedding) >= 0.9);
      assert.ok(cos(r.dense as Float32Array, b[i].dense as Float32Array) >= 0.9);
    });
    for (const walk of ['short', 'box', 'long'] as const) {
      const t = ['a photo of a cat', '黑猫'];
      const [x, y] = [await fp32.encodeTexts(t, { walk }), await int8.encodeTexts(t, { walk })];
      x.forEach((v, i) => assert.ok(cos(v, y[i]) >= 0.9, `${walk} ${i}`));
    }
  });
});
