import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { goldenPath } from '../test-util/goldens.js';
import { clearMemoryCache, fgclipCacheDir, VectorStore } from './vector-store.js';
import { fileDigest, folderIdentity, sha256 } from './model-identity.js';

/** every temp folder of this file, removed at the end */
const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-test-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

const ID = 'ab'.repeat(32);
const key = (s: string) => sha256(s);
const vec = (...x: number[]) => Float32Array.from(x);

describe('embedding cache', () => {
  test('cache folder: option, then FGCLIP_CACHE, then XDG_CACHE_HOME/fgclip, then ~/.cache/fgclip', () => {
    assert.equal(fgclipCacheDir({ dir: '/x', env: { FGCLIP_CACHE: '/y' } }), '/x');
    assert.equal(fgclipCacheDir({ env: { FGCLIP_CACHE: '/y', XDG_CACHE_HOME: '/z' } }), '/y');
    assert.equal(fgclipCacheDir({ env: { XDG_CACHE_HOME: '/z' } }), '/z/fgclip');
    assert.match(fgclipCacheDir({ env: {} }), /\.cache\/fgclip$/);
  });

  test('vectors written by one process are read back exactly by the next (float32 bits)', () => {
    const dir = mkdtempSync(join(ROOT, 'fgclip-cache-'));
    const s = VectorStore.open({ dir }, ID, 'labels', 3);
    s.put(key('a'), vec(1.5, -2.25, 1e-7));
    s.put(key('b'), vec(0, 0.1, 3));
    s.flush();
    clearMemoryCache();
    const r = VectorStore.open({ dir }, ID, 'labels', 3);
    assert.equal(r.size, 2);
    assert.deepEqual(r.get(key('a')), vec(1.5, -2.25, 1e-7));
    assert.deepEqual(r.get(key('b')), vec(0, 0.1, 3));
    assert.equal(statSync(r.path as string).size, 16 + 2 * (32 + 12 + 8)); // key, floats, 8-byte check
  });

  test('a torn last record is cut off on open, and later appends stay readable', () => {
    const dir = mkdtempSync(join(ROOT, 'fgclip-cache-'));
    const s = VectorStore.open({ dir }, ID, 'labels', 2);
    s.put(key('a'), vec(1, 2));
    s.flush();
    appendFileSync(s.path as string, Buffer.alloc(17, 7)); // a crash mid-write
    clearMemoryCache();
    const r = VectorStore.open({ dir }, ID, 'labels', 2);
    assert.equal(r.size, 1);
    assert.equal(statSync(r.path as string).size, 16 + 48);
    r.put(key('b'), vec(3, 4));
    r.flush();
    clearMemoryCache();
    const again = VectorStore.open({ dir }, ID, 'labels', 2);
    assert.deepEqual(again.get(key('b')), vec(3, 4));
    assert.deepEqual(again.get(key('a')), vec(1, 2));
  });

  test('a file of another dimension or format starts afresh instead of being misread', () => {
    const dir = mkdtempSync(join(ROOT, 'fgclip-cache-'));
    const s = VectorStore.open({ dir }, ID, 'labels', 2);
    s.put(key('a'), vec(1, 2));
    s.flush();
    clearMemoryCache();
    assert.equal(VectorStore.open({ dir }, ID, 'labels', 4).size, 0);
    writeFileSync(s.path as string, 'not a store at all');
    clearMemoryCache();
    const r = VectorStore.open({ dir }, ID, 'labels', 2);
    assert.equal(r.size, 0);
    assert.equal(statSync(r.path as string).size, 0);
  });

  test('a flipped bit inside a stored vector is detected: the record is dropped with a warning, the file rewritten, the rest kept exactly', () => {
    const dir = mkdtempSync(join(ROOT, 'fgclip-cache-'));
    const s = VectorStore.open({ dir }, ID, 'labels', 2);
    s.put(key('a'), vec(1, 2));
    s.put(key('b'), vec(3, 4));
    s.put(key('c'), vec(5, 6));
    s.flush();
    const bytes = readFileSync(s.path as string);
    bytes[16 + 48 + 32 + 2] ^= 0x40; // inside b's first float: 3 becomes another finite number
    writeFileSync(s.path as string, bytes);
    clearMemoryCache();
    const warnings: string[] = [];
    const r = VectorStore.open({ dir }, ID, 'labels', 2, (m) => warnings.push(m));
    assert.equal(r.size, 2);
    assert.equal(r.get(key('b')), undefined);
    assert.deepEqual(r.get(key('a')), vec(1, 2));
    assert.deepEqual(r.get(key('c')), vec(5, 6));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /1 damaged record\(s\) dropped; those vectors will be computed again/);
    assert.equal(statSync(r.path as string).size, 16 + 2 * 48);
    clearMemoryCache();
    const quiet: string[] = [];
    assert.equal(VectorStore.open({ dir }, ID, 'labels', 2, (m) => quiet.push(m)).size, 2);
    assert.deepEqual(quiet, []);
  });

  test('a garbage header is reported and the store started afresh', () => {
    const dir = mkdtempSync(join(ROOT, 'fgclip-cache-'));
    const s = VectorStore.open({ dir }, ID, 'labels', 2);
    s.put(key('a'), vec(1, 2));
    s.flush();
    const bytes = readFileSync(s.path as string);
    bytes[0] = 0x58;
    writeFileSync(s.path as string, bytes);
    clearMemoryCache();
    const warnings: string[] = [];
    assert.equal(VectorStore.open({ dir }, ID, 'labels', 2, (m) => warnings.push(m)).size, 0);
    assert.match(warnings.join('\n'), /not a version-2 store of 2-d vectors/);
  });

  test('a FIFO or a folder where the store file should be is never opened: memory only, with a warning', () => {
    for (const make of [(p: string) => execFileSync('mkfifo', [p]), (p: string) => mkdirSync(p)]) {
      const dir = mkdtempSync(join(ROOT, 'fgclip-cache-'));
      mkdirSync(join(dir, 'v1', ID), { recursive: true });
      make(join(dir, 'v1', ID, 'labels.vec'));
      clearMemoryCache();
      const warnings: string[] = [];
      const r = VectorStore.open({ dir }, ID, 'labels', 2, (m) => warnings.push(m));
      assert.equal(r.path, undefined);
      r.put(key('a'), vec(1, 2));
      r.flush();
      assert.deepEqual(r.get(key('a')), vec(1, 2));
      assert.match(warnings[0], /is not a regular file; this store stays in memory/);
    }
  });

  test('memory-only stores (cache: false) write nothing and are shared within the process', () => {
    const a = VectorStore.open(false, ID, 'mem-test', 2);
    assert.equal(a.path, undefined);
    a.put(key('x'), vec(5, 6));
    a.flush();
    assert.deepEqual(VectorStore.open(false, ID, 'mem-test', 2).get(key('x')), vec(5, 6));
  });

  test('bad keys, vectors and names are rejected with INPUT_INVALID', () => {
    const s = VectorStore.open(false, ID, 'bad', 2);
    assert.throws(() => s.put('nothex', vec(1, 2)), /sha256 hex/);
    assert.throws(() => s.put(key('k'), vec(1)), /expected 2/);
    assert.throws(() => VectorStore.open(false, 'zz', 'x', 2), /model id must be hex/);
    assert.throws(() => VectorStore.open(false, ID, '../x', 2), /store name/);
  });

  test('model identity: equal for a copied folder, different when config or weights change', async () => {
    const cache = { dir: mkdtempSync(join(ROOT, 'fgclip-cache-')) };
    const a = await folderIdentity(goldenPath('fgclip-tiny'), cache);
    const copy = mkdtempSync(join(ROOT, 'fgclip-model-'));
    cpSync(goldenPath('fgclip-tiny'), copy, { recursive: true });
    assert.equal(await folderIdentity(copy, cache), a);
    const cfg = join(copy, 'config.json');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/\}\s*$/, ', "note": 1}'));
    const b = await folderIdentity(copy, cache);
    assert.notEqual(b, a);
    const w = join(copy, 'model.safetensors');
    const bytes = readFileSync(w);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(w, bytes);
    assert.notEqual(await folderIdentity(copy, cache), b);
    assert.notEqual(await folderIdentity(goldenPath('fgclip-small'), cache), a);
  });

  test('weight digests are remembered on disk per (path, size, mtime, inode)', async () => {
    const cache = { dir: mkdtempSync(join(ROOT, 'fgclip-cache-')) };
    const copy = mkdtempSync(join(ROOT, 'fgclip-w-'));
    const w = join(copy, 'model.safetensors');
    writeFileSync(w, 'weights v1');
    const d = await fileDigest(w, cache);
    assert.equal(d, `sha256:${sha256('weights v1')}`);
    const memo = JSON.parse(readFileSync(join(cache.dir, 'v1', 'digests.json'), 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.values(memo), [d]);
    truncateSync(w, 3); // size changes → new digest
    assert.equal(await fileDigest(w, cache), `sha256:${sha256('wei')}`);
    const other = join(copy, 'model-00001-of-00002.safetensors');
    writeFileSync(other, 'shard');
    await fileDigest(other, cache);
    rmSync(other);
    const w2 = join(copy, 'pytorch_model.bin');
    writeFileSync(w2, 'pickle');
    await fileDigest(w2, cache);
    const paths = Object.keys(JSON.parse(readFileSync(join(cache.dir, 'v1', 'digests.json'), 'utf8')) as Record<string, string>).map((k) => k.split('\0')[0]);
    assert.deepEqual(paths.sort(), [w, w2].sort(), 'one entry per existing file');
  });
});
