/**
 * FG-OVD harness on a synthetic dataset (PNGs written here): the expected correctness of each item is computed in
 * the test from region features and text features of the model (own normalization and softmax in float64), and the
 * dataset is built so that some items are right, some wrong and one is a tie (which counts as correct, docs/model-spec.md §6.2).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FgClipError } from '../errors.js';
import { FgClip } from '../model/handle.js';
import { goldenPath } from '../test-util/goldens.js';
import { evalFgovd, parseFgovdJsonl, readFgovd } from './fgovd.js';
import { writePng, unit, dot64 } from '../test-util/fixtures.js';

/** every temp folder of this file, removed at the end */
const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-test-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

const softmax64 = (x: number[]) => {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

const POOL = ['a red square', 'a small blue dog', 'white cat on a mat', 'two cups of coffee', 'a green bicycle', 'noise'];

describe('eval fgovd on fgclip-tiny', () => {
  const dir = mkdtempSync(join(ROOT, 'fgclip-fgovd-'));
  let model: FgClip;
  const lines: string[] = [];
  const expected: boolean[] = [];
  before(async () => {
    model = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 2 });
    await writePng(join(dir, 'a.png'), 64, 48, 1);
    await writePng(join(dir, 'b.png'), 30, 70, 2);
    const boxes: [string, number[]][] = [
      ['a.png', [0, 0, 64, 48]],
      ['a.png', [10, 5, 30, 20]],
      ['b.png', [3, 40, 20, 25]],
      ['b.png', [0, 0, 15, 35]],
      ['a.png', [40, 30, 24, 18]],
    ];
    const text = (await model.encodeTexts(POOL, { mode: 'short', normalize: false })).embeddings.map(unit);
    for (const [i, [img, b]] of boxes.entries()) {
      const [enc] = await model.encodeImages([join(dir, img)], { boxes: [[[b[0], b[1], b[0] + b[2], b[1] + b[3]]]], normalize: false });
      const r = unit((enc.regions ?? [])[0]);
      const order = POOL.map((_, k) => k).sort((p, q) => dot64(r, text[q]) - dot64(r, text[p]));
      // item 0,2: positive = best text (right); 1,3: positive = worst text (wrong); 4: positive repeated among negatives (tie)
      const pos = i % 2 === 0 ? order[0] : order[order.length - 1];
      const negs = i === 4 ? [order[0], order[1]] : order.filter((k) => k !== pos).slice(0, 3);
      const texts = [pos, ...negs];
      const p = softmax64(texts.map((k) => 100 * dot64(r, text[k])));
      expected.push(p[0] === Math.max(...p));
      lines.push(
        JSON.stringify({
          img_path: img,
          bbox: b,
          pos_expression: i === 3 ? POOL[pos] : [POOL[pos]],
          neg_expression: negs.map((k) => POOL[k]),
          test_type: 'synthetic',
        }),
      );
    }
  });
  after(() => model.dispose());

  test('accuracy and per-item correctness equal an independent softmax(100·cos) over [pos]+negs; ties count as correct', async () => {
    assert.deepEqual(expected, [true, false, true, false, true]);
    const file = join(dir, 'data.jsonl');
    writeFileSync(file, lines.join('\n') + '\n\n');
    const progress: number[] = [];
    const r = await evalFgovd(model, readFgovd(file), dir, { batchSize: 1, onProgress: (d) => progress.push(d) });
    assert.deepEqual(
      r.perItem.map((x) => x.correct),
      expected,
    );
    assert.deepEqual(
      r.perItem.map((x) => x.line),
      [1, 2, 3, 4, 5],
    );
    assert.equal(r.correct, 3);
    assert.equal(r.items, 5);
    assert.equal(r.images, 2);
    assert.equal(r.accuracy, 3 / 5);
    assert.deepEqual(progress, [3, 5]);
    const tie = r.perItem[4];
    assert.equal(tie.positive, tie.bestNegative);
  });

  test('parse errors name the line: bad JSON, missing fields, bad bbox, empty negatives, no items', () => {
    const ok = lines[0];
    assert.throws(() => parseFgovdJsonl(`${ok}\n{not json`, 'd.jsonl'), /d\.jsonl:2: not valid JSON/);
    assert.throws(() => parseFgovdJsonl(`${ok}\n\n[1,2]`, 'd.jsonl'), /d\.jsonl:3: expected a JSON object/);
    const o = JSON.parse(ok) as Record<string, unknown>;
    const v = (patch: Record<string, unknown>) => JSON.stringify({ ...o, ...patch });
    assert.throws(() => parseFgovdJsonl(v({ img_path: 3 })), /fgovd:1: img_path must be/);
    assert.throws(() => parseFgovdJsonl(v({ bbox: [1, 2, 3] })), /bbox must be \[x, y, w, h\]/);
    assert.throws(() => parseFgovdJsonl(v({ bbox: [1, 2, -3, 4] })), /w, h ≥ 0/);
    assert.throws(() => parseFgovdJsonl(v({ pos_expression: [] })), /pos_expression must be/);
    assert.throws(() => parseFgovdJsonl(v({ neg_expression: [] })), /neg_expression must be/);
    assert.throws(() => parseFgovdJsonl(v({ neg_expression: ['ok', ''] })), /neg_expression must be/);
    assert.throws(() => parseFgovdJsonl('\n\n'), /no items/);
    assert.throws(() => readFgovd(join(dir, 'missing.jsonl')), /cannot read the file/);
  });

  test('a box outside its image is BOX_INVALID and a missing image IMAGE_DECODE, both naming the line', async () => {
    const o = JSON.parse(lines[0]) as Record<string, unknown>;
    const items = parseFgovdJsonl([lines[0], JSON.stringify({ ...o, bbox: [100, 0, 5, 5] })].join('\n'));
    await assert.rejects(evalFgovd(model, items, dir), (e: unknown) => e instanceof FgClipError && e.code === 'BOX_INVALID' && /^line 2: /.test(e.message));
    const missing = parseFgovdJsonl(JSON.stringify({ ...o, img_path: 'nope.png' }));
    await assert.rejects(evalFgovd(model, missing, dir), (e: unknown) => e instanceof FgClipError && e.code === 'IMAGE_DECODE' && /^line 1: /.test(e.message));
  });
});
