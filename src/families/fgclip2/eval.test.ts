/**
 * The eval harness with FG-CLIP 2's conventions (V2/fgclip2/eval): FG-OVD box texts through the box head,
 * softmax(100·cos) over each item's texts; ImageNet-style zero-shot at a fixed 1024-patch budget. Checked against
 * the same quantities computed directly from the family's features (relative 1e-6).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { evalFgovd } from '../../eval/fgovd.js';
import { FgClip } from '../../model/handle.js';
import { softmax } from '../../postprocess/similarity.js';
import { goldenV2Path } from '../../test-util/goldens-v2.js';

describe('eval harness on FG-CLIP 2 (tiny): v2 conventions', () => {
  let m: FgClip;
  before(async () => {
    m = await FgClip.load(goldenV2Path('fgclip2-tiny'), { threads: 1, graphCache: false });
  });
  after(() => m?.dispose());

  it('FG-OVD: texts through the box head; probabilities = softmax(100·cos(region, box text))', async () => {
    const texts = ['a black cat on a sofa', 'a white dog on a sofa', 'a red car'];
    const items = [{ line: 1, imgPath: 'cat_dfclor.jpg', bbox: [100, 80, 300, 250] as const, texts }];
    const r = await evalFgovd(m, items, goldenV2Path('images'));
    const [img] = await m.encodeImages([goldenV2Path('images', 'cat_dfclor.jpg')], { boxes: [[[100, 80, 400, 330]]] });
    const box = await m.encodeTexts(texts, { mode: 'box' });
    const region = img.regions?.[0] as Float32Array;
    const p = softmax(box.embeddings.map((t) => 100 * t.reduce((s, v, i) => s + v * region[i], 0)));
    assert.ok(Math.abs(r.perItem[0].positive - p[0]) <= 1e-6, `${r.perItem[0].positive} vs ${p[0]}`);
    const short = await m.encodeTexts(texts, { mode: 'short' });
    assert.notDeepEqual(Array.from(short.embeddings[0]), Array.from(box.embeddings[0]), 'box and short heads differ, so the test would notice the wrong one');
  });

  it('ImageNet convention: encodeImages with maxNumPatches 1024 uses that budget (27×36 grid for a 4:3 image at patch 8)', async () => {
    const [a] = await m.encodeImages([goldenV2Path('images', 'gradient_120x90.png')], { maxNumPatches: 1024 });
    assert.deepEqual(a.grid, [27, 36]);
    const [b] = await m.encodeImages([goldenV2Path('images', 'gradient_120x90.png')]);
    assert.deepEqual(b.grid, [9, 12]); // the card's budget: 128 patches
  });
});
