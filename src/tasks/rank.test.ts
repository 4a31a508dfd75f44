/** rank: the library task the server's /v1/rank also scores with (rankEmbeddings). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FgClip } from '../model/handle.js';
import { dot, softmax } from '../postprocess/similarity.js';
import { rejectsWith } from '../test-util/errors.js';
import { goldenPath } from '../test-util/goldens.js';
import { rank, rankEmbeddings } from './rank.js';

describe('rank', () => {
  let m: FgClip;
  before(async () => {
    m = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1, graphCache: false });
  });
  after(() => m.dispose());

  test('rankEmbeddings: by cosine, ties in input order, top K; probabilities only when a scale is given', () => {
    const q = Float32Array.of(1, 0);
    const c = [Float32Array.of(0, 1), Float32Array.of(1, 0), Float32Array.of(0, 1)];
    assert.deepEqual(rankEmbeddings(q, c, { top: 2 }), [
      { index: 1, score: 1 },
      { index: 0, score: 0 },
    ]);
    const withP = rankEmbeddings(q, c, { scale: 10 });
    assert.deepEqual(
      withP.map((h) => h.index),
      [1, 0, 2],
    );
    assert.ok(Math.abs(withP.reduce((s, h) => s + (h.probability ?? 0), 0) - 1) < 1e-12);
  });

  test('an image query against captions: cosines of the encoder outputs and the model card probabilities (1e-6)', async () => {
    const img = goldenPath('images', 'cat_dfclor.jpg');
    const texts = ['a photo of a cat', 'a photo of a dog', 'white cat'];
    const hits = await rank(m, { image: img }, { texts });
    const [e] = await m.encodeImages([img]);
    const t = await m.encodeTexts(texts);
    const cos = t.embeddings.map((v) => dot(e.embedding, v));
    const p = softmax(cos.map((c) => c * m.logitScale));
    for (const h of hits) {
      assert.ok(Math.abs(h.score - cos[h.index]) < 1e-6);
      assert.ok(Math.abs((h.probability ?? NaN) - p[h.index]) < 1e-6);
    }
    const same = await rank(m, { text: 'white cat' }, { texts }, { top: 1 });
    assert.equal(same.length, 1);
    assert.equal(same[0].probability, undefined);
    await rejectsWith(rank(m, { text: 'x' }, { texts: [] }), 'INPUT_INVALID', /candidate list is empty/, 'rank');
  });
});
