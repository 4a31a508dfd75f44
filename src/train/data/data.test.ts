import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isFgClipError } from '../../errors.js';
import { createPreprocessPool, type PreprocessPool } from '../../pipeline/index.js';
import { loadAndPreprocess } from '../../preprocess/index.js';
import { writePng } from '../../test-util/fixtures.js';
import { goldenPath } from '../../test-util/goldens.js';
import { ClipTokenizer } from '../../tokenizer/index.js';
import { BatchLoader } from './loader.js';
import { parseRecords, readRecords, topLevelLines } from './records.js';
import { epochOrder } from './rng.js';
import { nodeFolder } from '../../platform/node/folder.js';

const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];
const negs = (s: string) => Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`n${k}`, `${s} ${k}`]));
const box = (b: number[], flag = 0) => ({
  bbox: b,
  short_expr: 'a red circle',
  long_expr: 'a large red circle at the top left',
  flag_short_neg: flag,
  ...(flag ? { short_expr_negs: negs('a blue circle') } : {}),
});
const rec = (f: string, boxes: unknown[] = [box([0.1, 0.1, 0.5, 0.5], 1), box([0.5, 0.5, 0.9, 0.9])]) => ({
  f_path: f,
  caption: `long caption of ${f}`,
  short_caption: `short ${f}`,
  bbox_info: boxes,
});

let dir: string;
let tokenizer: ClipTokenizer;
let pool: PreprocessPool;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fgclip-data-'));
  for (let i = 0; i < 6; i++) await writePng(join(dir, `img${i}.png`), 20 + i, 17, i + 1);
  writeFileSync(join(dir, 'broken.png'), 'not an image');
  tokenizer = await ClipTokenizer.fromFolder(nodeFolder(goldenPath('fgclip-tiny')));
  pool = await createPreprocessPool({ size: 32, mean: MEAN, std: STD, threads: 1 });
});
after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

test('FineHARD JSON list: records with their line numbers; each bad record (missing field, inverted box, out of [0,1], wrong negative count, bad flag) reported with its line and reason', () => {
  const list = [
    rec('img0.png'),
    { caption: 'no path', short_caption: 's', bbox_info: [] },
    rec('img1.png', [box([0.6, 0.1, 0.5, 0.5])]),
    rec('img2.png', [box([0.1, 0.1, 1.5, 0.5])]),
    rec('img3.png', [{ ...box([0.1, 0.1, 0.5, 0.5], 1), short_expr_negs: { a: 'x' } }]),
    rec('img4.png', [{ ...box([0.1, 0.1, 0.5, 0.5]), flag_short_neg: 2 }]),
    { f_path: 'img5.png', caption: 'c', bbox_info: [] },
    rec('img5.png', [box([0, 0, 1, 1]), box([0, 0, 1, 1]), box([0, 0, 1, 1]), box([0, 0, 1, 1]), box([0, 0, 1, 1]), box([0, 0, 1, 1])]),
  ];
  const text = JSON.stringify(list, null, 2);
  const lines = topLevelLines(text);
  assert.equal(lines.length, list.length);
  const p = parseRecords(text, 'd.json', { imagesDir: dir, requireBoxes: true });
  assert.deepEqual(
    p.records.map((r) => r.where),
    [`d.json:${lines[0]} (record 1)`, `d.json:${lines[7]} (record 8)`],
  );
  assert.equal(p.records[0].image, join(dir, 'img0.png'));
  assert.equal(p.records[0].boxes![0].hardTexts!.length, 11);
  assert.equal(p.records[0].boxes![1].hardTexts, undefined);
  assert.equal(p.records[1].boxes!.length, 4);
  assert.equal(p.ignoredBoxes, 2);
  const reasons = p.bad.map((b) => `${b.where} ${b.reason}`);
  assert.match(reasons[0], new RegExp(`^d.json:${lines[1]} \\(record 2\\) missing field f_path`));
  assert.match(reasons[1], /inverted/);
  assert.match(reasons[2], /normalized to \[0, 1\]/);
  assert.match(reasons[3], /exactly 10 negatives \(got 1\)/);
  assert.match(reasons[4], /flag_short_neg must be 0 or 1/);
  assert.match(reasons[5], /missing field short_caption/);
});

test('JSONL and CSV stage-1 pairs: optional short caption, invalid JSON line and empty caption reported with line/row', () => {
  const jsonl = [
    JSON.stringify({ image: 'img0.png', caption: 'a long one' }),
    '{oops',
    '',
    JSON.stringify({ f_path: 'img1.png', caption: ' ', short_caption: 'x' }),
  ].join('\n');
  const j = parseRecords(jsonl, 'p.jsonl', { imagesDir: dir });
  assert.equal(j.records.length, 1);
  assert.equal(j.records[0].shortCaption, undefined);
  assert.deepEqual(
    j.bad.map((b) => b.where),
    ['p.jsonl:2', 'p.jsonl:4'],
  );
  const csv = 'image,caption,short_caption\nimg0.png,"a long, quoted caption",short\nimg1.png,,x\n';
  const c = parseRecords(csv, 'p.csv', { imagesDir: dir });
  assert.equal(c.records[0].caption, 'a long, quoted caption');
  assert.deepEqual(c.bad, [{ where: 'p.csv:row 3', reason: 'missing field caption' }]);
  assert.throws(
    () => parseRecords('x,y\n1,2', 'q.csv', { imagesDir: dir }),
    (e: unknown) => isFgClipError(e) && /header must name/.test(e.message),
  );
  assert.throws(
    () => readRecords(join(dir, 'absent.json')),
    (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID',
  );
});

test('seeded shuffle: same seed and epoch give the same order, another epoch or seed another; every record once', () => {
  const a = Array.from(epochOrder(50, 7, 0));
  assert.deepEqual(Array.from(epochOrder(50, 7, 0)), a);
  assert.notDeepEqual(Array.from(epochOrder(50, 7, 1)), a);
  assert.notDeepEqual(Array.from(epochOrder(50, 8, 0)), a);
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
});

test('stage-2 batch: pixels equal the in-thread preprocessing, 248/77 ids, "a photo of " prefix, boxes and 11 texts per hard box; resuming at a position reproduces the batches', async () => {
  const records = parseRecords(JSON.stringify([0, 1, 2, 3, 4].map((i) => rec(`img${i}.png`))), 'd.json', { imagesDir: dir, requireBoxes: true }).records;
  const loader = new BatchLoader({ records, stage: 2, batchSize: 2, seed: 3, tokenizer, pool, imageSize: 32 });
  const it = loader.batches({ epoch: 0, index: 0 });
  const seen: Awaited<ReturnType<typeof loader.load>>[] = [];
  for (let k = 0; k < 4; k++) seen.push((await it.next()).value!);
  await it.return();
  const b = seen[0].batch;
  assert.equal(b.size, 2);
  assert.equal(b.textLong[0].length, 248);
  assert.equal(b.textShort[0].length, 77);
  const first = records.find((r) => r.where === seen[0].records[0])!;
  assert.deepEqual(b.textShort[0], tokenizer.encode(`a photo of ${first.shortCaption}`, { maxLength: 77 }).ids);
  const px = await loadAndPreprocess(first.image, { size: 32, mean: MEAN, std: STD });
  assert.deepEqual(b.pixels.subarray(0, px.length), px);
  assert.equal(b.boxes!.length, 2);
  assert.equal(b.boxTexts!.length, 4);
  assert.equal(b.hardBoxes![0].length, 1);
  assert.equal(b.hardTexts!.length, 22);
  // epoch 0 has 3 batches (2+2+1); the 4th batch is epoch 1's first
  assert.deepEqual(
    seen.map((s) => s.batch.size),
    [2, 2, 1, 2],
  );
  assert.equal(seen[3].epoch, 1);
  const again = await loader.load(seen[1].next);
  assert.deepEqual(again.records, seen[2].records);
  assert.deepEqual(again.batch.boxTexts, seen[2].batch.boxTexts);
});

test("bad image: skip reports the record and fills the batch from the next ones; fail ends with the record's line", async () => {
  const list = [rec('img0.png'), rec('missing.png'), rec('broken.png'), rec('img1.png'), rec('img2.png')];
  const records = parseRecords(JSON.stringify(list, null, 1), 'd.json', { imagesDir: dir, requireBoxes: true }).records;
  const skipped: string[] = [];
  const loader = new BatchLoader({
    records,
    stage: 1,
    batchSize: 3,
    seed: 1,
    tokenizer,
    pool,
    imageSize: 32,
    shuffle: false,
    onSkip: (b) => skipped.push(b.where),
  });
  const b = await loader.load({ epoch: 0, index: 0 });
  assert.equal(b.batch.size, 3);
  assert.deepEqual(b.records, [records[0].where, records[3].where, records[4].where]);
  assert.deepEqual(skipped, [records[1].where, records[2].where]);
  assert.equal(b.skipped.length, 2);
  const strict = new BatchLoader({ records, stage: 1, batchSize: 3, seed: 1, tokenizer, pool, imageSize: 32, shuffle: false, onBadRecord: 'fail' });
  await assert.rejects(strict.load({ epoch: 0, index: 0 }), (e: unknown) => isFgClipError(e) && e.message.startsWith(`${records[1].where}: bad record`));
});

test('a prefetched batch abandoned when the run ends (batches().return(), then the pool closes under it) reports no bad record', async () => {
  const records = parseRecords(JSON.stringify([0, 1, 2, 3].map((i) => rec(`img${i}.png`))), 'd.json', { imagesDir: dir, requireBoxes: true }).records;
  let closed = false;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  let calls = 0;
  // the first batch decodes; the prefetch of the second waits until the "run" has ended, then finds the pool closed
  const closingPool = {
    run: async (p: string) =>
      ++calls <= 2 ? pool.run(p) : gate.then(() => Promise.reject(new Error(closed ? 'preprocess pool: the pool was closed' : 'unexpected'))),
  } as unknown as PreprocessPool;
  const skipped: string[] = [];
  const loader = new BatchLoader({
    records,
    stage: 1,
    batchSize: 2,
    seed: 1,
    tokenizer,
    pool: closingPool,
    imageSize: 32,
    shuffle: false,
    onSkip: (b) => skipped.push(b.reason),
  });
  const it = loader.batches({ epoch: 0, index: 0 });
  assert.equal((await it.next()).value!.batch.size, 2);
  await it.return();
  closed = true;
  release();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(skipped, []);
});
