/** The on-disk graph cache: a second load reads the built graphs and gives bit-identical outputs; damage is rebuilt. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { goldenPath } from '../test-util/goldens.js';
import { FgClip } from '../model/handle.js';

test('second load comes from the graph cache with identical text and image features; a damaged entry is rebuilt', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'fgclip-graphs-'));
  try {
    const img = goldenPath('images', 'gradient_97x61.png');
    const a = await FgClip.load(goldenPath('fgclip-small'), { threads: 1, graphCache: cache });
    const ta = await a.encodeTexts(['a photo of a cat', 'white cat'], { normalize: false });
    const [ia] = await a.encodeImages([img], { normalize: false, dense: true });
    a.dispose();
    assert.equal(a.fromGraphCache, false);

    const b = await FgClip.load(goldenPath('fgclip-small'), { threads: 1, graphCache: cache });
    assert.equal(b.fromGraphCache, true);
    const tb = await b.encodeTexts(['a photo of a cat', 'white cat'], { normalize: false });
    const [ib] = await b.encodeImages([img], { normalize: false, dense: true });
    assert.equal(b.logitScaleLog, a.logitScaleLog);
    b.dispose();
    assert.deepEqual(
      tb.embeddings.map((e) => Array.from(e)),
      ta.embeddings.map((e) => Array.from(e)),
    );
    assert.deepEqual(Array.from(ib.embedding), Array.from(ia.embedding));
    assert.deepEqual(
      ib.dense?.map((e) => Array.from(e)),
      ia.dense?.map((e) => Array.from(e)),
    );

    // truncate the tables file of the entry: the next load must notice and rebuild, not read garbage
    const entry = join(cache, 'graphs', readdirSync(join(cache, 'graphs'))[0]);
    writeFileSync(join(entry, 'text-tables.bin'), Buffer.alloc(12));
    const c = await FgClip.load(goldenPath('fgclip-small'), { threads: 1, graphCache: cache });
    assert.equal(c.fromGraphCache, false);
    const tc = await c.encodeTexts(['a photo of a cat', 'white cat'], { normalize: false });
    c.dispose();
    assert.deepEqual(
      tc.embeddings.map((e) => Array.from(e)),
      ta.embeddings.map((e) => Array.from(e)),
    );
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('int8 and fp16 linear layers stay close to fp32 on the golden checkpoint (cosine ≥ 0.99)', async () => {
  const img = goldenPath('images', 'cat_dfclor.jpg');
  const texts = ['a photo of a cat', 'a man in a red shirt riding a blue bicycle'];
  const ref = await FgClip.load(goldenPath('fgclip-small'), { threads: 1, graphCache: false });
  const [ri] = await ref.encodeImages([img]);
  const rt = await ref.encodeTexts(texts);
  ref.dispose();
  for (const dtype of ['int8', 'fp16'] as const) {
    const m = await FgClip.load(goldenPath('fgclip-small'), { threads: 1, graphCache: false, dtype });
    const [mi] = await m.encodeImages([img]);
    const mt = await m.encodeTexts(texts);
    m.dispose();
    const cos = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * y[i], 0);
    assert.ok(cos(mi.embedding, ri.embedding) >= 0.99, `${dtype} image cosine ${cos(mi.embedding, ri.embedding)}`);
    mt.embeddings.forEach((e, i) => assert.ok(cos(e, rt.embeddings[i]) >= 0.99, `${dtype} text ${i} cosine ${cos(e, rt.embeddings[i])}`));
  }
  await assert.rejects(FgClip.load(goldenPath('fgclip-small'), { dtype: 'int4' as never }), /dtype: expected fp32, fp16 or int8/);
});
