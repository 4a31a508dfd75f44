/**
 * Collections on fgclip-tiny with generated images: an index run adds, a rerun changes nothing, moves update the
 * path (no re-embedding), deletions remove (with their regions), changed content replaces, copies are stored once;
 * search scores equal the cosine of the model's own embeddings (abs 1e-5) best first; region results carry the box
 * in original pixels that holds the best region vector; filters; wrong model and concurrent writers are refused;
 * the IVF_RQ index is built above the threshold and search still returns exact cosines.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FgClip } from '../model/handle.js';
import { rejectsWith } from '../test-util/errors.js';
import { writePng } from '../test-util/fixtures.js';
import { goldenPath } from '../test-util/goldens.js';
import { Collection } from './collection.js';
import { describeModel } from './embed.js';
import { indexCollection } from './indexer.js';
import { regionVectors, schemeBoxes } from './regions.js';
import { searchCollection } from './search.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-coll-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));
const F = '';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i], 0);

describe('Collection on fgclip-tiny', () => {
  let model: FgClip;
  let small: FgClip;
  const dir = join(ROOT, 'photos');
  const uri = join(ROOT, 'coll');
  before(async () => {
    model = await FgClip.load(goldenPath('fgclip-tiny'), { graphCache: false, preprocessWorkers: 0 });
    small = await FgClip.load(goldenPath('fgclip-small'), { graphCache: false, preprocessWorkers: 0 });
    mkdirSync(join(dir, 'sub'), { recursive: true });
    for (let i = 0; i < 6; i++) await writePng(join(dir, i < 3 ? '' : 'sub', `p${i}.png`), 40 + 7 * i, 30 + 5 * i, i + 1);
  });
  after(() => {
    model.dispose();
    small.dispose();
  });

  test('first run adds every image; a rerun leaves all unchanged', async () => {
    const r1 = await indexCollection(model, uri, [dir]);
    assert.deepEqual([r1.added, r1.updated, r1.removed, r1.unchanged, r1.total], [6, 0, 0, 0, 6]);
    const r2 = await indexCollection(model, uri, [dir]);
    assert.deepEqual([r2.added, r2.updated, r2.removed, r2.unchanged, r2.total], [0, 0, 0, 6, 6]);
    const c = await Collection.open(uri);
    const s = await c.stats();
    assert.equal(s.images, 6);
    assert.equal(s.regions, 6 * schemeBoxes('grid', 4).length);
    c.close();
  });

  test('text and image search: scores are the cosines of encodeTexts/encodeImages vectors, best first', async () => {
    const c = await Collection.open(uri);
    const out = await searchCollection(model, c, { text: 'a red square on a blue background' }, { top: 6 });
    assert.equal(out.score, 'cosine');
    const [t] = (await model.encodeTexts(['a red square on a blue background'])).embeddings;
    const enc = await model.encodeImages(out.results.map((r) => r.path));
    out.results.forEach((r, i) => assert.ok(Math.abs(r.score - dot(t, enc[i].embedding)) < 1e-5, `${r.path}: ${r.score} vs ${dot(t, enc[i].embedding)}`));
    for (let i = 1; i < out.results.length; i++) assert.ok(out.results[i - 1].score >= out.results[i].score);
    const img = await searchCollection(model, c, { image: join(dir, 'p2.png') }, { top: 1 });
    assert.equal(img.results[0].path, join(dir, 'p2.png'));
    assert.ok(Math.abs(img.results[0].score - 1) < 1e-5);
    c.close();
  });

  test('region search: each image once, with the box (original pixels) of its best region vector', async () => {
    const c = await Collection.open(uri);
    const q = 'a small green circle';
    const out = await searchCollection(model, c, { text: q }, { top: 3, regions: true });
    assert.equal(out.results.length, 3);
    assert.equal(new Set(out.results.map((r) => r.path)).size, 3);
    const [t] = (await model.encodeTexts([q])).embeddings;
    const boxes = schemeBoxes('grid', model.gridSize);
    for (const r of out.results) {
      const [e] = await model.encodeImages([r.path], { normalize: false, dense: true });
      const vecs = regionVectors(e.dense as Float32Array[], model.gridSize, model.embeddingDim, boxes);
      const scores = vecs.map((v) => dot(t, v));
      const k = scores.indexOf(Math.max(...scores));
      assert.ok(Math.abs(r.score - scores[k]) < 1e-5, `${r.path}: best region ${scores[k]} vs ${r.score}`);
      const want = [boxes[k][0] * e.width, boxes[k][1] * e.height, boxes[k][2] * e.width, boxes[k][3] * e.height];
      assert.deepEqual(
        r.box?.map((v) => Math.round(v * 1000)),
        want.map((v) => Math.round(v * 1000)),
      );
    }
    c.close();
  });

  test('filters: path glob, size, modification date', async () => {
    const c = await Collection.open(uri);
    const sub = await searchCollection(model, c, { text: 'x' }, { top: 10, filter: { path: '*/sub/*' } });
    assert.deepEqual(
      sub.results.map((r) => r.path).sort(),
      [3, 4, 5].map((i) => join(dir, 'sub', `p${i}.png`)),
    );
    const big = await searchCollection(model, c, { text: 'x' }, { top: 10, filter: { minWidth: 61 } });
    assert.deepEqual(big.results.map((r) => r.width).sort(), [61, 68, 75]);
    const small2 = await searchCollection(model, c, { text: 'x' }, { top: 10, regions: true, filter: { maxHeight: 35 } });
    assert.deepEqual(small2.results.map((r) => r.height).sort(), [30, 35]);
    const none = await searchCollection(model, c, { text: 'x' }, { top: 10, filter: { modifiedAfter: Date.now() + 86_400_000 } });
    assert.equal(none.results.length, 0);
    await rejectsWith(searchCollection(model, c, { text: 'x' }, { top: 0 }), 'INPUT_INVALID', /top must be/, F);
    await rejectsWith(searchCollection(model, c, { text: 'x' }, { filter: { minWidth: Number.NaN } }), 'INPUT_INVALID', /filter\.minWidth/, F);
    c.close();
  });

  test('querying or indexing with another model is COLLECTION_MODEL_MISMATCH', async () => {
    const c = await Collection.open(uri);
    await rejectsWith(searchCollection(small, c, { text: 'a cat' }), 'COLLECTION_MODEL_MISMATCH', /holds vectors of model .*fgclip-tiny/, F);
    c.close();
    await rejectsWith(indexCollection(small, uri, [dir]), 'COLLECTION_MODEL_MISMATCH', /holds vectors of model/, F);
  });

  test('a moved file updates its path without re-embedding; a deleted file leaves with its regions', async () => {
    renameSync(join(dir, 'p0.png'), join(dir, 'sub', 'moved.png'));
    let embedded = 0;
    const orig = model.encodeImages.bind(model);
    model.encodeImages = async (...a: Parameters<typeof orig>) => {
      embedded += a[0].length;
      return orig(...a);
    };
    try {
      const r = await indexCollection(model, uri, [dir]);
      assert.deepEqual([r.added, r.updated, r.removed, r.unchanged, r.total], [0, 1, 0, 5, 6]);
      assert.equal(embedded, 0);
      rmSync(join(dir, 'p1.png'));
      const r2 = await indexCollection(model, uri, [dir]);
      assert.deepEqual([r2.added, r2.updated, r2.removed, r2.unchanged, r2.total], [0, 0, 1, 5, 5]);
    } finally {
      model.encodeImages = orig;
    }
    const c = await Collection.open(uri);
    const paths = (await c.entries()).map((e) => e.path).sort();
    assert.ok(paths.includes(join(dir, 'sub', 'moved.png')) && !paths.includes(join(dir, 'p0.png')) && !paths.includes(join(dir, 'p1.png')));
    assert.equal(await c.regionTable.countRows(), 5 * schemeBoxes('grid', 4).length);
    c.close();
  });

  test('changed content at a path replaces the image; copies are stored once; other folders are left alone', async () => {
    await writePng(join(dir, 'p2.png'), 50, 50, 99);
    utimesSync(join(dir, 'p2.png'), new Date(), new Date(Date.now() + 5000));
    copyFileSync(join(dir, 'sub', 'p3.png'), join(dir, 'copy-of-p3.png'));
    const other = join(ROOT, 'other');
    mkdirSync(other);
    await writePng(join(other, 'o.png'), 33, 33, 7);
    const r0 = await indexCollection(model, uri, [other]);
    assert.deepEqual([r0.added, r0.removed, r0.total], [1, 0, 6]);
    const r = await indexCollection(model, uri, [dir]);
    assert.deepEqual([r.added, r.updated, r.removed, r.unchanged, r.total, r.duplicates], [0, 1, 0, 4, 6, 1]);
    const c = await Collection.open(uri);
    const entries = await c.entries();
    assert.equal(entries.filter((e) => e.path === join(dir, 'p2.png')).length, 1);
    assert.ok(
      entries.some((e) => e.path === join(other, 'o.png')),
      'indexing one folder does not remove another folder’s images',
    );
    c.close();
  });

  test('unreadable and corrupt files are skipped with a reason; the rest is indexed', async () => {
    const d = join(ROOT, 'bad');
    mkdirSync(d);
    writeFileSync(join(d, 'broken.png'), 'not a png');
    await writePng(join(d, 'ok.png'), 20, 20, 3);
    const warnings: string[] = [];
    const r = await indexCollection(model, join(ROOT, 'coll-bad'), [d], { onWarning: (m) => warnings.push(m) });
    assert.equal(r.added, 1);
    assert.equal(r.skipped.length, 1);
    assert.match(r.skipped[0].image, /broken\.png$/);
    assert.ok(warnings.some((w) => /broken\.png/.test(w)));
  });

  test('a second writer gets COLLECTION_LOCKED; a stale lock (dead pid) is taken over', async () => {
    const lock = Collection.lock(uri, 'test holder');
    try {
      await rejectsWith(indexCollection(model, uri, [dir]), 'COLLECTION_LOCKED', /being written by test holder/, F);
    } finally {
      lock.release();
    }
    writeFileSync(
      Collection.lockPath(uri),
      JSON.stringify({ host: (await import('node:os')).hostname(), pid: 2 ** 22 + 17, start: '1', since: 'then', token: 't', what: 'dead' }),
    );
    const r = await indexCollection(model, uri, [dir]);
    assert.equal(r.total, 6);
  });

  test('IVF_RQ index above the threshold; scores stay exact cosines', async () => {
    const u = join(ROOT, 'coll-big');
    const desc = await describeModel(model);
    const lock = Collection.lock(u, 'test');
    const c = await Collection.openOrCreate(u, desc, { regions: 'none' });
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const unitVec = () => {
      const v = Float32Array.from({ length: desc.dim }, rnd);
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    };
    const vecs = Array.from({ length: 600 }, unitVec);
    await c.upsert(vecs.map((v, i) => ({ sha256: `s${i}`, path: `/v/${i}.png`, width: 10, height: 10, bytes: 1, mtime: 0, vector: v, regions: [] })));
    await c.optimize({ threshold: 500 });
    assert.equal((await c.stats()).indexed.images, true);
    const q = unitVec();
    const hits = await c.searchVector(q, { top: 5 });
    const exact = vecs.map((v, i) => ({ i, s: dot(q, v) })).sort((a, b) => b.s - a.s);
    for (const h of hits) assert.ok(Math.abs(h.score - dot(q, vecs[Number(h.path.slice(3, -4))])) < 1e-5);
    assert.ok(hits.filter((h) => exact.slice(0, 5).some((e) => `/v/${e.i}.png` === h.path)).length >= 4, 'recall@5 ≥ 0.8 on 600 random vectors');
    c.close();
    lock.release();
  });
});
