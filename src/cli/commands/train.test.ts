import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run } from '../../test-util/cli.js';
import { goldenPath } from '../../test-util/goldens.js';

const root = mkdtempSync(join(tmpdir(), 'fgclip-cli-train-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('fgclip synthetic writes a FineHARD train/held-out split with --json paths; every box has 10 negatives', async () => {
  const r = await run(['synthetic', '--out', join(root, 'syn'), '--train', '3', '--heldout', '2', '--image-size', '48', '--json']);
  assert.equal(r.code, 0, r.err);
  const files = JSON.parse(r.out) as { train: string; heldOut: string };
  const recs = JSON.parse(readFileSync(files.train, 'utf8')) as { bbox_info: { short_expr_negs: Record<string, string> }[] }[];
  assert.equal(recs.length, 3);
  assert.ok(recs.every((x) => x.bbox_info.length >= 2 && x.bbox_info.every((b) => Object.keys(b.short_expr_negs).length === 10)));
});

test('fgclip train usage errors exit 2 with one clear line: missing --data/--out, both --model and --init, bad --freeze/--stage/--on-bad-record/--lr, --steps with --epochs, eval options without --eval-data, batch of 1', async () => {
  const cases: [string[], RegExp][] = [
    [['train', '--out', root], /--data FILE is required/],
    [['train', '--data', 'x.json'], /--out DIR is required/],
    [['train', '--data', 'x.json', '--out', root, '--model', 'm', '--init', 'synthetic'], /not both/],
    [['train', '--data', 'x.json', '--out', root, '--model', 'm', '--freeze', 'head'], /--freeze: expected vision, text or all-but-projections/],
    [['train', '--data', 'x.json', '--out', root, '--model', 'm', '--stage', '3'], /--stage: expected 1 or 2/],
    [['train', '--data', 'x.json', '--out', root, '--model', 'm', '--on-bad-record', 'ignore'], /--on-bad-record: expected skip or fail/],
    [['train', '--data', 'x.json', '--out', root, '--model', 'm', '--lr', 'fast'], /--lr: expected a number/],
    [['train', '--data', 'x.json', '--out', root, '--init', 'synthetic'], /--tokenizer-from DIR/],
    [['train', '--data', 'x.json', '--out', root, '--model', 'm', '--steps', '5', '--epochs', '2'], /--steps N or --epochs N, not both/],
    [['train', '--data', 'x.json', '--out', root, '--model', 'm', '--eval-every', '5'], /--eval-every needs --eval-data/],
    [['train', '--data', 'x.json', '--out', root, '--model', 'm', '--eval-images', 'imgs'], /--eval-images needs --eval-data/],
    [['train', '--data', 'x.json', '--out', root, '--model', 'm', '--batch-size', '1'], /--batch-size: expected an integer ≥ 2/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    assert.equal(r.err.trim().split('\n').length, 1);
  }
});

test('fgclip train on a missing data file: exit 1, INPUT_INVALID naming the file', async () => {
  const r = await run([
    'train',
    '--data',
    join(root, 'absent.json'),
    '--out',
    join(root, 'o'),
    '--init',
    'synthetic',
    '--tokenizer-from',
    goldenPath('fgclip-tiny'),
  ]);
  assert.equal(r.code, 1);
  assert.match(r.err, /absent\.json/);
});

test('fgclip train with stderr not a terminal (a log file): progress lines at the first and the last step, then the summary on stdout', async () => {
  const syn = await run(['synthetic', '--out', join(root, 'prog'), '--train', '3', '--heldout', '1', '--image-size', '64', '--json']);
  assert.equal(syn.code, 0, syn.err);
  const { train } = JSON.parse(syn.out) as { train: string };
  const r = await run([
    'train',
    '--init',
    'synthetic',
    '--tokenizer-from',
    goldenPath('fgclip-tiny'),
    '--data',
    train,
    '--out',
    join(root, 'prog-run'),
    '--stage',
    '1',
    '--steps',
    '2',
    '--batch-size',
    '2',
    '--warmup-steps',
    '0',
    '--workers',
    '1',
    '--threads',
    '1',
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /^fgclip train: step 1\/2 {2}loss \d+\.\d{4} {2}lr \S+ {2}\d+\.\d samples\/s {2}ETA \S+$/m);
  assert.match(r.err, /^fgclip train: step 2\/2 /m);
  assert.match(r.out, /^finished at step 2, loss \d/m);
});
