/**
 * `fgclip loss` (the CLI contract): the golden batch gives the reference's loss, parts and every gradient
 * norm (README tolerances); an unseen checkpoint + batch (fgclip-small) gives the gradient norms of the float64
 * engine (which finite differences check, engine.small.test.ts); malformed batches exit non-zero with one line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run } from '../../test-util/cli.js';
import { goldenPath, readGoldenJson } from '../../test-util/goldens.js';
import { createGradientEngine } from '../../train/engine.js';
import { l2norm, smallBatch } from '../../train/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'fgclip-loss-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface LossOut {
  loss: number;
  parts: Record<string, number>;
  grad_norms: Record<string, number>;
}
const golden = readGoldenJson<LossOut>('fgclip-tiny.loss.json');
const tiny = goldenPath('fgclip-tiny');

function writeBatch(name: string, value: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, typeof value === 'string' ? value : JSON.stringify(value));
  return f;
}

test('fgclip loss --json on the golden batch: loss, 4 parts, every gradient norm at the README tolerances', async () => {
  const r = await run(['loss', '--model', tiny, '--batch', goldenPath('fgclip-tiny.loss.json'), '--json', '--threads', '1']);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as LossOut;
  assert.ok(Math.abs(out.loss - golden.loss) <= 1e-4 * golden.loss);
  for (const k of ['itc_long', 'itc_short', 'region', 'hard_negative']) assert.ok(Math.abs(out.parts[k] - golden.parts[k]) <= 1e-4 * golden.parts[k], k);
  assert.deepEqual(Object.keys(out.grad_norms).sort(), Object.keys(golden.grad_norms).sort());
  for (const [k, v] of Object.entries(golden.grad_norms)) assert.ok(Math.abs(out.grad_norms[k] - v) <= 1e-3 * v + 1e-5, `${k}: ${out.grad_norms[k]} vs ${v}`);
});

test('fgclip loss on an unseen checkpoint and batch (fgclip-small, F16, quick_gelu): norms equal the float64 engine (1e-3·n + 1e-5), chunked too', async () => {
  const { referenceJson, batch } = smallBatch();
  const f = writeBatch('small.json', referenceJson);
  const e = await createGradientEngine(goldenPath('fgclip-small'), { threads: 1, dtype: 'double' });
  const ref = await e.computeRaw(e.initialParams, batch, { stage: 2 });
  await e.dispose();
  for (const extra of [[], ['--chunk-size', '3']]) {
    const r = await run(['loss', '--model', goldenPath('fgclip-small'), '--batch', f, '--json', '--threads', '1', ...extra]);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out) as LossOut;
    assert.ok(Math.abs(out.loss - ref.loss) <= 1e-5 * ref.loss, `${out.loss} vs ${ref.loss}`);
    for (const [k, g] of ref.grads) {
      const n = l2norm(g);
      assert.ok(Math.abs(out.grad_norms[k] - n) <= 1e-3 * n + 1e-5, `${k}: ${out.grad_norms[k]} vs ${n}`);
    }
  }
});

test('fgclip loss: stage 1 from a batch without box fields, or forced with --stage 1 (region and hard parts 0)', async () => {
  const g = readGoldenJson<Record<string, unknown>>('fgclip-tiny.loss.json');
  const stage1 = writeBatch('stage1.json', { image: g.image, text_short: g.text_short, text_long: g.text_long });
  for (const [f, extra] of [
    [stage1, []],
    [goldenPath('fgclip-tiny.loss.json'), ['--stage', '1']],
  ] as const) {
    const r = await run(['loss', '--model', tiny, '--batch', f, '--json', '--threads', '1', ...extra]);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out) as LossOut;
    assert.equal(out.parts.region, 0);
    assert.equal(out.parts.hard_negative, 0);
    assert.ok(Math.abs(out.loss - (golden.parts.itc_long + golden.parts.itc_short)) <= 1e-4 * out.loss);
  }
});

test('fgclip loss: malformed batches and options exit non-zero with one clear stderr line', async () => {
  const g = readGoldenJson<Record<string, unknown>>('fgclip-tiny.loss.json');
  const cases: [string, unknown, RegExp][] = [
    ['not json', '{"image": [', /not valid JSON/],
    ['not an object', [1, 2], /expected a JSON object/],
    ['long text of 247 ids', { ...g, text_long: (g.text_long as number[][]).map((r) => r.slice(1)) }, /text_long\[0\] has 247 ids \(expected 248, padded\)/],
    ['short text rows != images', { ...g, text_short: (g.text_short as number[][]).slice(0, 1) }, /text_short has 1 rows for 2 images/],
    [
      'token id out of range',
      { ...g, text_short: [[49406, 60000, ...Array<number>(75).fill(49407)], (g.text_short as number[][])[1]] },
      /text_short\[0\] holds token id 60000 outside/,
    ],
    [
      'short text not padded to 77',
      { ...g, text_short: [[49406, 320, 49407], (g.text_short as number[][])[1]] },
      /text_short\[0\] has 3 ids \(expected 77, padded\)/,
    ],
    ['image of the wrong size', { ...g, image: (g.image as number[][][][]).map((im) => im.map((ch) => ch.slice(1))) }, /image\[0\]\[0\] must be a list of 32/],
    ['NaN pixel', writeBatchRaw(g), /is not a finite number/],
    [
      'box outside [0,1]',
      {
        ...g,
        box_infos_normalized_xyxy: [
          [
            [0.1, 0.1, 1.5, 0.9],
            [0, 0, 1, 1],
          ],
          [
            [0, 0, 1, 1],
            [0, 0, 1, 1],
          ],
        ],
      },
      /box_infos_normalized_xyxy\[0\]\[0\] = .* outside \[0, 1\]/,
    ],
    [
      'inverted box',
      {
        ...g,
        box_infos_normalized_xyxy: [
          [
            [0.8, 0.1, 0.2, 0.9],
            [0, 0, 1, 1],
          ],
          [
            [0, 0, 1, 1],
            [0, 0, 1, 1],
          ],
        ],
      },
      /x2 < x1/,
    ],
    ['box_nums above the slots', { ...g, box_nums: [3, 1] }, /box_nums\[0\] = 3 is not an integer in \[0, 2\]/],
    ['hard texts not 11 per hard box', { ...g, hard_texts: (g.hard_texts as number[][]).slice(0, 21) }, /hardTexts has 21 rows for 2 hard boxes/],
    ['partial stage-2 fields', { ...g, hard_nums: undefined }, /missing hard_nums/],
  ];
  for (const [what, value, re] of cases) {
    const f = writeBatch(`bad-${what.replace(/\W+/g, '-')}.json`, value);
    const r = await run(['loss', '--model', tiny, '--batch', f, '--json', '--threads', '1']);
    assert.equal(r.code, 1, `${what}: exit ${r.code} ${r.err}`);
    // --json: the error is also one JSON document on stdout
    const j = JSON.parse(r.out) as { error: { code: string; message: string } };
    assert.match(j.error.code, /^[A-Z_]+$/, what);
    assert.match(j.error.message, re, what);
    assert.equal(r.err.trim().split('\n').length, 1, `${what}: ${r.err}`);
    assert.match(r.err, re, what);
  }
  const usage: [string[], RegExp][] = [
    [['loss', '--batch', goldenPath('fgclip-tiny.loss.json')], /--model DIR\|REPO is required/],
    [['loss', '--model', tiny], /--batch FILE is required/],
    [['loss', '--model', tiny, '--batch', goldenPath('fgclip-tiny.loss.json'), '--stage', '3'], /--stage: expected 1 or 2/],
    [['loss', '--model', tiny, '--batch', goldenPath('fgclip-tiny.loss.json'), '--chunk-size', '0'], /--chunk-size: expected an integer ≥ 1/],
  ];
  for (const [argv, re] of usage) {
    const r = await run(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, re);
  }
  const missing = await run(['loss', '--model', tiny, '--batch', join(dir, 'nope.json')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /cannot read the file \(ENOENT\)/);
  const stage2 = await run([
    'loss',
    '--model',
    tiny,
    '--batch',
    writeBatch('s1.json', { image: g.image, text_short: g.text_short, text_long: g.text_long }),
    '--stage',
    '2',
  ]);
  assert.equal(stage2.code, 1);
  assert.match(stage2.err, /stage 2 needs the box fields/);
});

/** The golden batch with one pixel replaced by a JSON-unrepresentable value (written as a string "NaN"). */
function writeBatchRaw(g: Record<string, unknown>): unknown {
  const image = structuredClone(g.image) as unknown[][][][];
  image[1][2][3][4] = 'NaN';
  return { ...g, image };
}
