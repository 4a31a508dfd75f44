/**
 * ClipTowers' lazy text session: a load from the graph cache creates only the vision session; the text session is
 * created on the first text call, and its features then equal the goldens (rel L2 ≤ 1e-4, goldens/README.md).
 * A fresh build (no cache entry yet) has both sessions at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FgClip } from '../../model/handle.js';
import { goldenPath, readGoldenJson, relL2 } from '../../test-util/goldens.js';
import type { FamilyModel } from '../types.js';

interface Cases {
  text_short: { texts: string[]; features: number[][] };
  image: { pixel_values: number[][][][]; features: number[][] };
}

const textCreated = (m: FgClip) => (m as unknown as { towers: FamilyModel & { text: { opened?: boolean } } }).towers.text.opened ?? true;

describe('lazy text session (fgclip-tiny)', () => {
  const C = readGoldenJson<Cases>('fgclip-tiny.cases.json');
  const root = mkdtempSync(join(tmpdir(), 'fgclip-lazy-text-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('built fresh: text session exists; from the graph cache: created on the first text call, features equal the goldens (rel L2 1e-4)', async () => {
    const cache = join(root, 'cache');
    const fresh = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1, graphCache: cache });
    assert.equal(fresh.fromGraphCache, false);
    assert.equal(textCreated(fresh), true);
    fresh.dispose();

    const m = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1, graphCache: cache });
    try {
      assert.equal(m.fromGraphCache, true);
      assert.equal(textCreated(m), false, 'no text session after a cached load');
      const img = await m.getImageFeatures(Float32Array.from(C.image.pixel_values.flat(3)));
      C.image.features.forEach((f, i) => assert.ok(relL2(img[i], f) <= 1e-4, `image ${i}`));
      assert.equal(textCreated(m), false, 'image calls do not create it');
      const [a, b] = await Promise.all([
        m.encodeTexts(C.text_short.texts, { mode: 'short', normalize: false }),
        m.encodeTexts(C.text_short.texts.slice(0, 1), { mode: 'short', normalize: false }),
      ]);
      assert.equal(textCreated(m), true);
      C.text_short.features.forEach((f, i) => assert.ok(relL2(a.embeddings[i], f) <= 1e-4, `text ${i}`));
      assert.ok(relL2(b.embeddings[0], C.text_short.features[0]) <= 1e-4);
    } finally {
      m.dispose();
    }
  });
});
