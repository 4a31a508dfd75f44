/**
 * A collection on S3-compatible storage: s3rver 3.7.1 in-process on loopback, LanceDB through `storageOptions`.
 * `fgclip index s3://…` creates and fills it (the same counts as on disk), a rerun changes nothing, `fgclip search`
 * reads it from another process, and two readers (as two `fgclip serve` would) get the same results. A second
 * writer on the same machine is refused (the lock of a remote collection lives in the local cache).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FgClip } from '../model/handle.js';
import { rejectsWith } from '../test-util/errors.js';
import { runCli } from '../test-util/cli-process.js';
import { writePng } from '../test-util/fixtures.js';
import { goldenPath } from '../test-util/goldens.js';
import { Collection } from './collection.js';
import { indexCollection } from './indexer.js';
import { searchCollection } from './search.js';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (o: object) => { run(): Promise<{ port: number }>; close(): Promise<void> };
const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-s3-'));
const TINY = goldenPath('fgclip-tiny');

describe('collection on s3rver (S3-compatible, loopback)', () => {
  let server: InstanceType<typeof S3rver>;
  let so: Record<string, string>;
  const dir = join(ROOT, 'photos');
  const uri = 's3://photos-bucket/collections/demo';
  const env: Record<string, string> = { FGCLIP_CACHE: join(ROOT, 'cache') };
  before(async () => {
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(ROOT, 's3'), configureBuckets: [{ name: 'photos-bucket' }] });
    const { port } = await server.run();
    so = { endpoint: `http://127.0.0.1:${port}`, allow_http: 'true', aws_access_key_id: 'S3RVER', aws_secret_access_key: 'S3RVER', region: 'us-east-1' };
    env.FGCLIP_STORAGE_OPTIONS = JSON.stringify(so);
    mkdirSync(dir);
    for (let i = 0; i < 6; i++) await writePng(join(dir, `s${i}.png`), 30 + i, 30, 600 + i);
  });
  after(async () => {
    await server.close();
    rmSync(ROOT, { recursive: true, force: true });
  });

  test('fgclip index into s3://, rerun unchanged, search from another process', async () => {
    const r1 = await runCli(['index', dir, '--model', TINY, '--collection', uri, '--json'], env);
    assert.equal(r1.code, 0, r1.err);
    assert.deepEqual(JSON.parse(r1.out), { added: 6, updated: 0, removed: 0, unchanged: 0, total: 6 });
    const r2 = await runCli(['index', dir, '--model', TINY, '--collection', uri, '--json'], env);
    assert.deepEqual(JSON.parse(r2.out), { added: 0, updated: 0, removed: 0, unchanged: 6, total: 6 });
    const s = await runCli(['search', '--collection', uri, '--model', TINY, '--image', join(dir, 's4.png'), '--top', '2', '--json'], env);
    assert.equal(s.code, 0, s.err);
    const res = JSON.parse(s.out).results;
    assert.equal(res[0].path, join(dir, 's4.png'));
    assert.ok(Math.abs(res[0].score - 1) < 1e-5);
    const g = await runCli(['search', '--collection', uri, '--model', TINY, '--text', 'a small blue circle', '--top', '3', '--regions', '--json'], env);
    assert.equal(g.code, 0, g.err);
    const hits = JSON.parse(g.out).results as { box: number[] }[];
    assert.equal(hits.length, 3);
    for (const h of hits) assert.ok(h.box.length === 4 && h.box[0] < h.box[2] && h.box[1] < h.box[3]);
  });

  test('two readers agree; a second writer on this machine is COLLECTION_LOCKED', async () => {
    const model = await FgClip.load(TINY, { graphCache: false });
    try {
      const [a, b] = await Promise.all([Collection.open(uri, { storageOptions: so }), Collection.open(uri, { storageOptions: so })]);
      const [ra, rb] = await Promise.all([
        searchCollection(model, a, { text: 'a photo' }, { top: 6 }),
        searchCollection(model, b, { text: 'a photo' }, { top: 6 }),
      ]);
      assert.equal(ra.results.length, 6);
      assert.deepEqual(ra.results, rb.results);
      a.close();
      b.close();
      const lock = Collection.lock(uri, 'another writer');
      try {
        await rejectsWith(indexCollection(model, uri, [dir], { storageOptions: so }), 'COLLECTION_LOCKED', /another writer/, uri.slice(0, 0));
      } finally {
        lock.release();
      }
    } finally {
      model.dispose();
    }
  });
});
