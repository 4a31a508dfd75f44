/**
 * Retrieval harness on synthetic pairs: recalls equal a brute-force computation in the test (full similarity
 * matrix from the model's embeddings, stable sort, "any of its captions" for image→text), including duplicate
 * images (byte-identical files → exactly tied scores) and several captions per image; JSON and CSV pairs agree.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FgClip } from '../model/handle.js';
import { goldenPath } from '../test-util/goldens.js';
import { evalRetrieval, groupPairs, parsePairsCsv, parsePairsJson, readPairs, retrievalRecall, type RetrievalPair } from './retrieval.js';
import { writePng } from '../test-util/fixtures.js';

/** every temp folder of this file, removed at the end */
const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-test-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

/** Brute force: stable-sorted rows/columns of the full matrix. */
function bruteRecall(I: Float32Array[], T: Float32Array[], owner: number[], k: number): { i2t: number; t2i: number } {
  const sim = I.map((im) => T.map((t) => t.reduce((s, x, d) => s + x * im[d], 0)));
  const order = (xs: number[]) => xs.map((_, i) => i).sort((a, b) => xs[b] - xs[a] || a - b);
  let i2t = 0;
  I.forEach((_, i) => {
    if (
      order(sim[i])
        .slice(0, k)
        .some((t) => owner[t] === i)
    )
      i2t++;
  });
  let t2i = 0;
  T.forEach((_, t) => {
    if (
      order(sim.map((r) => r[t]))
        .slice(0, k)
        .includes(owner[t])
    )
      t2i++;
  });
  return { i2t: i2t / I.length, t2i: t2i / T.length };
}

const CAPTIONS = [
  'a red square',
  'a small blue dog',
  'white cat on a mat',
  'two cups of coffee',
  'a green bicycle',
  'noise',
  'a photo of a cat',
  'a bridge at night',
  'a bowl of soup',
  'three birds',
  'a crowded street market',
  'a laptop on a desk',
  'snow on a roof',
  'an old red car',
];

describe('eval retrieval on fgclip-tiny', () => {
  const dir = mkdtempSync(join(ROOT, 'fgclip-ret-'));
  let model: FgClip;
  const pairs: RetrievalPair[] = [];
  before(async () => {
    model = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 2 });
    for (let i = 0; i < 11; i++) await writePng(join(dir, `img${i}.png`), 20 + 3 * i, 24, i + 1);
    copyFileSync(join(dir, 'img2.png'), join(dir, 'dup-of-2.png'));
    copyFileSync(join(dir, 'img5.png'), join(dir, 'dup-of-5.png'));
    const images = [...Array.from({ length: 11 }, (_, i) => `img${i}.png`), 'dup-of-2.png', 'dup-of-5.png'];
    let c = 0;
    images.forEach((im, i) => {
      const n = i % 3 === 0 ? 2 : 1; // several captions for some images
      for (let k = 0; k < n; k++) pairs.push({ image: im, caption: CAPTIONS[c++ % CAPTIONS.length] + (k ? ` (${k})` : '') });
    });
  });
  after(() => model.dispose());

  test('R@1/5/10 both ways equal a brute-force ranking of the embeddings (exact)', async () => {
    const r = await evalRetrieval(model, pairs, dir, { mode: 'short' });
    const g = groupPairs(pairs);
    assert.equal(r.images, 13);
    assert.equal(r.texts, pairs.length);
    const I = (await model.encodeImages(g.images.map((p) => join(dir, p)))).map((e) => e.embedding);
    const T = (await model.encodeTexts(g.captions, { mode: 'short' })).embeddings;
    for (const k of [1, 5, 10] as const) {
      const b = bruteRecall(I, T, g.owner, k);
      assert.equal(r.imageToText[k], b.i2t, `I→T R@${k}`);
      assert.equal(r.textToImage[k], b.t2i, `T→I R@${k}`);
    }
    // duplicates tie exactly, so the later copy can never be ranked first for its own captions
    const dup = g.images.indexOf('dup-of-2.png');
    assert.ok(I[dup].every((x, d) => x === I[2][d]));
  });

  test('retrievalRecall: hand-made embeddings with known ranks (ties go to the earlier image)', () => {
    const v = (...x: number[]) => Float32Array.from(x);
    const I = [v(1, 0), v(0, 1), v(0, 1)]; // images 1 and 2 identical
    const T = [v(1, 0), v(0, 1), v(0, 1), v(0.6, 0.8)];
    const owner = [0, 1, 2, 2];
    const r = retrievalRecall(I, T, owner);
    // I→T: image 0 → text 0 first (hit@1); image 1 → texts 1,2 tie, 1 first (hit); image 2 → text 1 first (not its own), text 2 second → R@1 = 2/3
    assert.equal(r.imageToText[1], 2 / 3);
    assert.equal(r.imageToText[5], 1);
    // T→I: text0→img0 hit; text1→img1 hit; text2→img2 tied with img1, img1 first: miss@1; text3 (0.6,0.8): img1 0.8 = img2 0.8, img1 first: miss@1
    assert.equal(r.textToImage[1], 2 / 4);
    assert.equal(r.textToImage[5], 1);
  });

  test('pairs as JSON {image, caption}, JSON {image, captions} and CSV give the same result', async () => {
    const byImage = new Map<string, string[]>();
    for (const p of pairs) byImage.set(p.image, [...(byImage.get(p.image) ?? []), p.caption]);
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    const c = join(dir, 'c.csv');
    writeFileSync(a, JSON.stringify(pairs));
    writeFileSync(b, JSON.stringify([...byImage].map(([image, captions]) => ({ image, captions }))));
    writeFileSync(c, 'id,image,caption\r\n' + pairs.map((p, i) => `${i},${p.image},"${p.caption.replace(/"/g, '""')}"`).join('\r\n') + '\r\n');
    assert.deepEqual(readPairs(a), pairs);
    assert.deepEqual(readPairs(b), pairs);
    assert.deepEqual(readPairs(c), pairs);
  });

  test('bad pairs files are rejected with the entry or row', () => {
    assert.throws(() => parsePairsJson('{"image": 1}', 'p.json'), /p\.json: expected a JSON list/);
    assert.throws(() => parsePairsJson('[{"image": "a.png"}]', 'p.json'), /entry 1 needs a non-empty "caption"/);
    assert.throws(() => parsePairsJson('[{"caption": "x"}]', 'p.json'), /entry 1 has no image path/);
    assert.throws(() => parsePairsJson('[nope', 'p.json'), /p\.json: not valid JSON/);
    assert.throws(() => parsePairsCsv('file,text\na,b\n', 'p.csv'), /header must name image and caption/);
    assert.throws(() => parsePairsCsv('image,caption\na.png,\n', 'p.csv'), /row 2 needs an image and a caption/);
    const txt = join(dir, 'p.txt');
    writeFileSync(txt, 'x');
    assert.throws(() => readPairs(txt), /unknown extension ".txt"/);
    const empty = join(dir, 'e.json');
    writeFileSync(empty, '[]');
    assert.throws(() => readPairs(empty), /no pairs/);
  });

  test('a missing image fails with IMAGE_DECODE naming it', async () => {
    await assert.rejects(evalRetrieval(model, [{ image: 'gone.png', caption: 'x' }], dir), /image "gone\.png": .*file not found/);
  });
});
