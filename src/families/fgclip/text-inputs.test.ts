/**
 * Exactness of the text speed-up: cutting the sequence after the batch's last end token gives the same features
 * as running the full padded 77/248 rows (causal mask + first-end-token pooling), within 1e-6 relative L2
 * (float32 summation order inside ONNX Runtime may differ with the length; the math is identical).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { goldenPath, relL2 } from '../../test-util/goldens.js';
import { FgClip } from '../../model/handle.js';
import type { FgClipTowers } from './assemble.js';
import { prepareTextBatch } from './text-inputs.js';
import { FgClipError } from '../../errors.js';

describe('text tower: cut at the last end token equals the padded computation', () => {
  let m: FgClip;
  before(async () => {
    m = await FgClip.load(goldenPath('fgclip-small'), { threads: 2 });
  });
  after(() => m.dispose());

  for (const mode of ['short', 'long'] as const) {
    test(`${mode} mode, mixed lengths in one batch, rel L2 ≤ 1e-6`, async () => {
      const texts = ['a cat', 'a photo of a dog on a red sofa next to a window', 'white cat', 'x'];
      const ids = texts.map((t) => m.tokenizer.encode(t, { maxLength: mode === 'short' ? 77 : 248 }).ids);
      const cut = await m.runText(ids, mode, true);
      const full = await m.runText(ids, mode, false);
      cut.forEach((v, i) => assert.ok(relL2(v, full[i]) <= 1e-6, `${mode}[${i}] ${relL2(v, full[i])}`));
    });
  }

  test('the cut length is the longest caption in the batch (bos + tokens + eos)', () => {
    const ids = ['a cat', 'a photo of a dog'].map((t) => m.tokenizer.encode(t, { maxLength: 77 }).ids);
    const towers = (m as unknown as { towers: FgClipTowers }).towers;
    const b = prepareTextBatch(
      towers.config,
      { shortPositions: towers.positions.short, longPositions: towers.positions.long ?? new Float32Array(0) },
      ids,
      'short',
    );
    assert.equal(b.T, 7);
    assert.deepEqual(Array.from(b.poolIndex, Number), [3, 7 + 6]);
  });

  test('bad token rows are typed errors: long mode needs exactly 248 ids, ids inside the vocabulary, equal lengths', async () => {
    await assert.rejects(
      m.runText([[49406, 320, 49407]], 'long'),
      (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID' && /exactly 248/.test(e.message),
    );
    await assert.rejects(m.runText([[49406, 99999, 49407]], 'short'), (e: unknown) => e instanceof FgClipError && /outside/.test(e.message));
    await assert.rejects(
      m.runText(
        [
          [49406, 49407],
          [49406, 320, 49407],
        ],
        'short',
      ),
      (e: unknown) => e instanceof FgClipError && /row 1/.test(e.message),
    );
    await assert.rejects(m.runText(Array(1).fill(Array(78).fill(49407)), 'short'), (e: unknown) => e instanceof FgClipError && /at most 77/.test(e.message));
    await assert.rejects(m.runText([], 'short'), (e: unknown) => e instanceof FgClipError && /empty/.test(e.message));
  });
});
