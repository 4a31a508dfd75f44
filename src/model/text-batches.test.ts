/**
 * The shared text-batch loop (Node handle and browser worker): which mode each text gets, how texts are grouped into
 * tower calls (per mode, shortest first, at most batchSize each, ids cut at the mode's length), results back in input
 * order, normalization, truncation flags, and typed errors for bad input. A fake tokenizer (one token per word) and
 * a fake tower (embedding = [text index, mode, batch number]) make every decision visible; exact comparisons.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FgClipError } from '../errors.js';
import type { TextMode } from '../families/types.js';
import { encodeTextBatches, type BatchTokenizer, type TextBatchOptions } from './text-batches.js';

// one token per word; a token's id is the index of the text it came from (its first word "t<i>")
const tokenizer: BatchTokenizer = {
  countTokens: (t) => t.split(' ').length,
  encode: (t, { maxLength }) => ({
    ids: t
      .split(' ')
      .slice(0, maxLength)
      .map(() => Number(t.split(' ')[0].slice(1))),
  }),
};
const words = (i: number, n: number) => [`t${i}`, ...Array(n - 1).fill('w')].join(' ');
const MODE_ID: Record<TextMode, number> = { short: 1, long: 2, box: 3 };

function harness(over: Partial<TextBatchOptions> = {}) {
  const calls: { mode: TextMode; lengths: number[]; texts: number[] }[] = [];
  const o: TextBatchOptions = {
    tokenizer,
    lengths: { short: 4, long: 10 },
    mode: 'auto',
    batchSize: 2,
    normalize: false,
    family: 'fgclip',
    run: async (ids, mode) => {
      calls.push({ mode, lengths: ids.map((x) => x.length), texts: ids.map((x) => x[0]) });
      return ids.map((x) => Float32Array.of(x[0], MODE_ID[mode], calls.length));
    },
    ...over,
  };
  return { o, calls };
}

const rejectsWith = (code: string, re: RegExp) => (e: unknown) => e instanceof FgClipError && e.code === code && re.test(e.message);

describe('encodeTextBatches', () => {
  test("'auto': short table when the count fits, else long; each mode's texts in batches shortest first; results in input order", async () => {
    const texts = [words(0, 9), words(1, 2), words(2, 4), words(3, 12), words(4, 1), words(5, 5)];
    const { o, calls } = harness();
    const r = await encodeTextBatches(texts, o);
    assert.deepEqual(r.tokenCounts, [9, 2, 4, 12, 1, 5]);
    assert.deepEqual(r.modes, ['long', 'short', 'short', 'long', 'short', 'long']);
    assert.deepEqual(r.truncated, [false, false, false, true, false, false]);
    assert.deepEqual(calls, [
      { mode: 'short', lengths: [1, 2], texts: [4, 1] },
      { mode: 'short', lengths: [4], texts: [2] },
      { mode: 'long', lengths: [5, 9], texts: [5, 0] },
      { mode: 'long', lengths: [10], texts: [3] },
    ]);
    r.embeddings.forEach((e, i) => {
      assert.equal(e[0], i, `embedding ${i} is text ${i}'s`);
      assert.equal(e[1], MODE_ID[r.modes[i]]);
    });
  });

  test("a forced mode applies to every text and truncates at that mode's length; no long table → 'auto' stays short", async () => {
    const texts = [words(0, 9), words(1, 2)];
    const forced = harness({ mode: 'short' });
    const r = await encodeTextBatches(texts, forced.o);
    assert.deepEqual(r.modes, ['short', 'short']);
    assert.deepEqual(r.truncated, [true, false]);
    assert.deepEqual(forced.calls, [{ mode: 'short', lengths: [2, 4], texts: [1, 0] }]);
    const noLong = harness({ lengths: { short: 4 } });
    const r2 = await encodeTextBatches(texts, noLong.o);
    assert.deepEqual(r2.modes, ['short', 'short']);
    assert.deepEqual(r2.truncated, [true, false]);
    const box = harness({ mode: 'box', lengths: { short: 4, box: 3 } });
    const r3 = await encodeTextBatches(texts, box.o);
    assert.deepEqual(r3.modes, ['box', 'box']);
    assert.deepEqual(box.calls, [{ mode: 'box', lengths: [2, 3], texts: [1, 0] }]);
  });

  test('normalize: true gives unit vectors of the tower output, false the tower output itself', async () => {
    const texts = [words(3, 1)];
    const raw = await encodeTextBatches(texts, harness().o);
    assert.deepEqual(Array.from(raw.embeddings[0]), [3, 1, 1]);
    const unit = await encodeTextBatches(texts, harness({ normalize: true }).o);
    const n = Math.hypot(3, 1, 1);
    assert.deepEqual(Array.from(unit.embeddings[0]), [3 / n, 1 / n, 1 / n].map(Math.fround));
  });

  test('bad input is INPUT_INVALID before any tower call: empty list, non-strings, unknown mode, a mode the model lacks, bad batch size', async () => {
    const { o, calls } = harness();
    await assert.rejects(encodeTextBatches([], o), rejectsWith('INPUT_INVALID', /empty/));
    await assert.rejects(encodeTextBatches(['a', 3 as unknown as string], o), rejectsWith('INPUT_INVALID', /array of strings/));
    await assert.rejects(encodeTextBatches(['a'], { ...o, mode: 'medium' as TextMode }), rejectsWith('INPUT_INVALID', /mode must be/));
    await assert.rejects(encodeTextBatches(['a'], { ...o, mode: 'long', lengths: { short: 4 } }), rejectsWith('INPUT_INVALID', /no long-caption path/));
    await assert.rejects(encodeTextBatches(['a'], { ...o, mode: 'box' }), rejectsWith('INPUT_INVALID', /fgclip model has no box/));
    await assert.rejects(encodeTextBatches(['a'], { ...o, batchSize: 0 }), rejectsWith('INPUT_INVALID', /batch size/));
    assert.deepEqual(calls, []);
  });

  test('a tower that answers with the wrong number of embeddings is RUNTIME, not a silent hole', async () => {
    const { o } = harness({ run: async () => [] });
    await assert.rejects(encodeTextBatches(['a b'], o), rejectsWith('RUNTIME', /0 embeddings for 1 texts/));
  });
});
