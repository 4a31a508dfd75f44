/**
 * The /v1/collection routes over real HTTP on fgclip-tiny: stats; text, image and region search equal the library's
 * searchCollection (same paths, scores within 1e-5; boxes identical); thumbnails are JPEG data URIs; add (file:
 * under the image root) embeds once and is idempotent; add of uploaded images (JSON data URI / base64, multipart
 * file parts) keeps them as <collection>/uploads/<sha256>.<ext> and searches find them (score 1 within 1e-5 for the
 * image itself); remove drops the path; errors: no collection 404, bad queries and filters 400, a path outside the
 * root 400 IMAGE_SOURCE_FORBIDDEN, bad or too many uploads 400 with nothing written, a held writer lock 409.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Collection } from '../collection/collection.js';
import { indexCollection } from '../collection/indexer.js';
import { searchCollection } from '../collection/search.js';
import { writePng } from '../test-util/fixtures.js';
import { sha256 } from '../cache/model-identity.js';
import { get, post, start, tinyModel, type Running } from './test-helpers.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-coll-srv-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

describe('collection routes', () => {
  const photos = join(ROOT, 'photos');
  const uri = join(ROOT, 'coll');
  let coll: Collection;
  let srv: Running;
  let bare: Running;
  before(async () => {
    mkdirSync(join(photos, 'new'), { recursive: true });
    for (let i = 0; i < 5; i++) await writePng(join(photos, `s${i}.png`), 40 + 4 * i, 30 + 3 * i, 50 + i);
    await writePng(join(photos, 'new', 'later.png'), 44, 44, 77);
    await indexCollection(await tinyModel(), uri, [
      join(photos, 's0.png'),
      join(photos, 's1.png'),
      join(photos, 's2.png'),
      join(photos, 's3.png'),
      join(photos, 's4.png'),
    ]);
    coll = await Collection.open(uri);
    srv = await start({ collection: coll, imageRoot: photos, maxImages: 3 });
    bare = await start();
  });
  after(async () => {
    await srv.server.close();
    await bare.server.close();
    coll.close();
  });

  test('GET /v1/collection: counts and model', async () => {
    const r = await get(`${srv.url}/v1/collection`);
    assert.equal(r.status, 200);
    assert.equal(r.json.images, 5);
    assert.equal(r.json.regions, 5 * 18);
    assert.equal(r.json.model.dimensions, 24);
    assert.equal(r.json.indexed.images, false);
  });

  test('text, image and region search equal the library (scores 1e-5, same boxes)', async () => {
    const m = await tinyModel();
    for (const [body, q, regions] of [
      [{ text: 'a blue square' }, { text: 'a blue square' }, false],
      [{ text: 'a blue square', regions: true }, { text: 'a blue square' }, true],
      [{ image: `file:s3.png` }, { image: join(photos, 's3.png') }, false],
    ] as const) {
      const r = await post(`${srv.url}/v1/collection/search`, { ...body, top_k: 5 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.score, 'cosine');
      const lib = await searchCollection(m, coll, q, { top: 5, regions });
      assert.deepEqual(
        r.json.results.map((x: { path: string }) => x.path),
        lib.results.map((x) => x.path),
      );
      r.json.results.forEach((x: { score: number; box?: number[] }, i: number) => {
        assert.ok(Math.abs(x.score - lib.results[i].score) < 1e-5);
        assert.deepEqual(x.box, lib.results[i].box);
      });
    }
  });

  test('filters and thumbnails', async () => {
    const r = await post(`${srv.url}/v1/collection/search`, { text: 'x', filter: { min_width: 48, path: '*s?.png' }, thumbnails: 32 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.results.map((x: { width: number }) => x.width).sort(), [48, 52, 56]);
    for (const x of r.json.results) assert.match(x.thumbnail, /^data:image\/jpeg;base64,\/9j\//);
  });

  test('add (file: under the image root) is idempotent; remove drops the path', async () => {
    const a = await post(`${srv.url}/v1/collection/add`, { paths: ['file:new/later.png'] });
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.deepEqual([a.json.added, a.json.total], [1, 6]);
    const again = await post(`${srv.url}/v1/collection/add`, { paths: ['file:new/later.png'] });
    assert.deepEqual([again.json.added, again.json.unchanged, again.json.total], [0, 1, 6]);
    const hit = await post(`${srv.url}/v1/collection/search`, { image: 'file:new/later.png', top_k: 1 });
    assert.ok(hit.json.results[0].path.endsWith('later.png'));
    assert.ok(Math.abs(hit.json.results[0].score - 1) < 1e-5);
    const rm = await post(`${srv.url}/v1/collection/remove`, { paths: [hit.json.results[0].path] });
    assert.deepEqual([rm.json.removed, rm.json.total], [1, 5]);
  });

  test('add of uploaded images: JSON data URI and base64, multipart file parts; kept by content, found by search, idempotent', async () => {
    await writePng(join(ROOT, 'up1.png'), 36, 28, 11);
    await writePng(join(ROOT, 'up2.png'), 30, 40, 222);
    const b1 = readFileSync(join(ROOT, 'up1.png'));
    const b2 = readFileSync(join(ROOT, 'up2.png'));
    const a = await post(`${srv.url}/v1/collection/add`, { images: [`data:image/png;base64,${b1.toString('base64')}`] });
    assert.equal(a.status, 200, JSON.stringify(a.json));
    const kept = join(uri, 'uploads', `${sha256(b1)}.png`);
    assert.deepEqual([a.json.added, a.json.total, a.json.paths], [1, 6, [kept]]);
    assert.deepEqual(readFileSync(kept), b1);
    // the same bytes again, as plain base64: nothing new
    const again = await post(`${srv.url}/v1/collection/add`, { images: b1.toString('base64') });
    assert.deepEqual([again.json.added, again.json.unchanged, again.json.total], [0, 1, 6]);
    // multipart: a file part, with a file: path in the same request
    const form = new FormData();
    form.append('images', new Blob([b2], { type: 'image/png' }), 'holiday.png');
    form.append('paths', JSON.stringify(['file:s0.png']));
    const m = await fetch(`${srv.url}/v1/collection/add`, { method: 'POST', body: form });
    const mj = (await m.json()) as { added: number; unchanged: number; total: number; paths: string[] };
    assert.equal(m.status, 200, JSON.stringify(mj));
    assert.deepEqual([mj.added, mj.unchanged, mj.total], [1, 1, 7]);
    assert.equal(mj.paths[1], join(uri, 'uploads', `${sha256(b2)}.png`));
    const hit = await post(`${srv.url}/v1/collection/search`, { image: `data:image/png;base64,${b2.toString('base64')}`, top_k: 1, thumbnails: 16 });
    assert.equal(hit.json.results[0].path, mj.paths[1]);
    assert.ok(Math.abs(hit.json.results[0].score - 1) < 1e-5);
    assert.match(hit.json.results[0].thumbnail, /^data:image\/jpeg;base64,/);
    const rm = await post(`${srv.url}/v1/collection/remove`, { paths: [kept, mj.paths[1]] });
    assert.deepEqual([rm.json.removed, rm.json.total], [2, 5]);
  });

  test('add errors: bad base64, undecodable bytes, too many images, file: in images → 400, nothing written', async () => {
    const before = readdirSync(join(uri, 'uploads')).length;
    const cases: [unknown, string][] = [
      [{ images: ['not base64!'] }, 'INPUT_INVALID'],
      [{ images: [Buffer.from('definitely not an image').toString('base64')] }, 'IMAGE_DECODE'],
      [{ images: ['file:s0.png'] }, 'INPUT_INVALID'],
      [{ paths: ['file:s0.png', 'file:s1.png'], images: [Buffer.from('x').toString('base64'), Buffer.from('y').toString('base64')] }, 'TOO_MANY_INPUTS'],
      [{}, 'INPUT_INVALID'],
    ];
    for (const [body, code] of cases) {
      const r = await post(`${srv.url}/v1/collection/add`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.code, code, JSON.stringify(r.json));
    }
    assert.equal(readdirSync(join(uri, 'uploads')).length, before);
    assert.equal((await get(`${srv.url}/v1/collection`)).json.images, 5);
    assert.ok(!existsSync(join(photos, 'uploads')));
  });

  test('errors: no collection 404, bad query or filter 400, outside the root 400, lock held 409', async () => {
    assert.equal((await get(`${bare.url}/v1/collection`)).status, 404);
    assert.equal((await post(`${bare.url}/v1/collection/search`, { text: 'x' })).status, 404);
    const both = await post(`${srv.url}/v1/collection/search`, { text: 'x', image: 'file:s0.png' });
    assert.equal(both.status, 400);
    assert.match(both.json.error.message, /either "text" or "image"/);
    const f = await post(`${srv.url}/v1/collection/search`, { text: 'x', filter: { min_width: -1 } });
    assert.equal(f.status, 400);
    assert.equal(f.json.error.param, 'filter.min_width');
    assert.equal((await post(`${srv.url}/v1/collection/search`, { text: 'x', filter: { colour: 'red' } })).status, 400);
    const out = await post(`${srv.url}/v1/collection/add`, { paths: ['file:../../etc/passwd'] });
    assert.deepEqual([out.status, out.json.error.code], [400, 'IMAGE_SOURCE_FORBIDDEN']);
    assert.equal((await post(`${srv.url}/v1/collection/add`, { paths: ['/abs/path.png'] })).status, 400);
    const lock = Collection.lock(uri, 'a test index run');
    try {
      const r = await post(`${srv.url}/v1/collection/add`, { paths: ['file:new/later.png'] });
      assert.equal(r.status, 409);
      assert.equal(r.json.error.code, 'COLLECTION_LOCKED');
    } finally {
      lock.release();
    }
  });
});
