/**
 * FG-CLIP 2 through the graph cache: a cold load writes the entry, a warm load opens the graphs from disk (no weights
 * read into JavaScript) and gives bit-identical features to an in-memory build; a damaged entry is reported and
 * rebuilt; each dtype has its own entry.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';
import type { Fgclip2Model } from './model.js';
import { loadFgclip2Model } from '../../test-util/fgclip2.js';

const cache = mkdtempSync(join(tmpdir(), 'fgclip2-graph-cache-'));
after(() => rmSync(cache, { recursive: true, force: true }));
const dir = goldenV2Path('fgclip2-tiny');
const image = goldenV2Path('images', 'gradient_120x90.png');

async function features(m: Fgclip2Model) {
  const [img] = await m.encodeImages([image], { dense: true });
  const [txt] = await m.encodeTexts(['a photo of a cat'], { walk: 'long' });
  return { img: Array.from(img.embedding), dense: Array.from(img.dense as Float32Array), txt: Array.from(txt), scale: m.logitScale, bias: m.logitBias };
}

describe('FG-CLIP 2 graph cache', () => {
  it('cold load builds the entry, warm load opens it: features identical to an in-memory build', async () => {
    const mem = await loadFgclip2Model(dir, { threads: 1, graphCache: false });
    const want = await features(mem);
    await mem.dispose();
    const cold = await loadFgclip2Model(dir, { threads: 1, graphCache: cache });
    assert.equal(cold.fromGraphCache, false);
    assert.deepEqual(await features(cold), want);
    await cold.dispose();
    const warm = await loadFgclip2Model(dir, { threads: 1, graphCache: cache });
    assert.equal(warm.fromGraphCache, true);
    assert.deepEqual(await features(warm), want);
    assert.deepEqual(warm.unknownTensors, []);
    await warm.dispose();
    const cases = readGoldenV2Json<{ logit_scale: number; logit_bias: number }>('fgclip2-tiny.cases.json');
    assert.equal(want.scale, Math.fround(cases.logit_scale));
    assert.equal(want.bias, Math.fround(cases.logit_bias));
  });

  it('a damaged entry is reported and rebuilt; int8 has its own entry', async () => {
    const root = join(cache, 'graphs');
    const [key] = readdirSync(root).filter((n) => /^[0-9a-f]{32}$/.test(n));
    const vision = readdirSync(join(root, key)).find((n) => n.startsWith('vision-')) as string;
    writeFileSync(join(root, key, vision, 'weights.bin'), 'not the weights');
    const warnings: string[] = [];
    const m = await loadFgclip2Model(dir, { threads: 1, graphCache: cache, onWarning: (w) => warnings.push(w) });
    assert.equal(m.fromGraphCache, false);
    assert.match(warnings.join('\n'), /damaged.*rebuilding/);
    await m.dispose();
    const again = await loadFgclip2Model(dir, { threads: 1, graphCache: cache });
    assert.equal(again.fromGraphCache, true);
    await again.dispose();
    const q = await loadFgclip2Model(dir, { threads: 1, graphCache: cache, dtype: 'int8' });
    assert.equal(q.fromGraphCache, false, 'a separate entry per dtype');
    await q.dispose();
    assert.equal(readdirSync(root).filter((n) => /^[0-9a-f]{32}$/.test(n)).length, 2);
  });
});
