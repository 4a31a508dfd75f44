/**
 * The fgclip cache's listing and cleaning (cache-admin.ts) on a cache laid out as fgclip writes it: kinds and sizes
 * listed, `olderThanDays` keeps what was used recently, a dry run removes nothing, a folder collection being indexed
 * (writer lock held) is skipped, trash of a killed cleaner is removed while a live one's is left alone, bad options
 * are typed errors.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { WriterLock } from '../collection/lock.js';
import { isFgClipError } from '../errors.js';
import { cleanCache, FOLDER_NOTE, listCache } from './cache-admin.js';

const root = mkdtempSync(join(tmpdir(), 'fgclip-cache-admin-'));
after(() => rmSync(root, { recursive: true, force: true }));
const G = 'a'.repeat(32);
const G2 = 'b'.repeat(32);
const F = 'c'.repeat(32);
const E = 'd'.repeat(64);
const DAY = 86_400_000;

function layout(dir: string): void {
  mkdirSync(join(dir, 'graphs', G, 'text'), { recursive: true });
  writeFileSync(join(dir, 'graphs', G, 'text', 'model.onnx'), Buffer.alloc(1000));
  writeFileSync(join(dir, 'graphs', G, 'manifest.json'), '{}');
  mkdirSync(join(dir, 'graphs', G2), { recursive: true });
  writeFileSync(join(dir, 'graphs', G2, 'manifest.json'), Buffer.alloc(10));
  mkdirSync(join(dir, 'folders', F), { recursive: true });
  writeFileSync(join(dir, 'folders', F, FOLDER_NOTE), JSON.stringify({ folder: '/photos/2024' }));
  mkdirSync(join(dir, 'v1', E), { recursive: true });
  writeFileSync(join(dir, 'v1', E, 'texts.vec'), Buffer.alloc(300));
  writeFileSync(join(dir, 'v1', 'digests.json'), '{}'); // shared metadata: never an entry
  mkdirSync(join(dir, 'graphs', 'not-a-key'), { recursive: true }); // foreign: never touched
}

function age(path: string, days: number): void {
  const t = new Date(Date.now() - days * DAY);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isDirectory()) age(join(path, e.name), days);
    else utimesSync(join(path, e.name), t, t);
  }
  utimesSync(path, t, t);
}

test('listCache: every entry with its kind, size and folder; shared files and foreign names are not entries', () => {
  const dir = join(root, 'list');
  layout(dir);
  const items = listCache(dir);
  assert.deepEqual(
    items.map((i) => [i.kind, i.path.slice(dir.length + 1), i.bytes, i.about]),
    [
      ['graphs', `graphs/${G}`, 1002, undefined],
      ['embeddings', `v1/${E}`, 300, undefined],
      ['folders', `folders/${F}`, JSON.stringify({ folder: '/photos/2024' }).length, '/photos/2024'],
      ['graphs', `graphs/${G2}`, 10, undefined],
    ],
  );
  assert.deepEqual(
    listCache(dir, ['folders']).map((i) => i.kind),
    ['folders'],
  );
  assert.deepEqual(listCache(join(root, 'missing')), []);
});

test('cleanCache: olderThanDays removes only entries unused for that long; a dry run removes nothing; no kind filter cleans all', () => {
  const dir = join(root, 'clean');
  layout(dir);
  age(join(dir, 'graphs', G), 40);
  age(join(dir, 'v1', E), 40);
  const dry = cleanCache(dir, { olderThanDays: 30, dryRun: true });
  assert.deepEqual(dry.removed.map((i) => i.path).sort(), [join(dir, 'graphs', G), join(dir, 'v1', E)]);
  assert.ok(existsSync(join(dir, 'graphs', G)) && existsSync(join(dir, 'v1', E)));
  const r = cleanCache(dir, { olderThanDays: 30 });
  assert.deepEqual(r.removed.map((i) => i.path).sort(), [join(dir, 'graphs', G), join(dir, 'v1', E)]);
  assert.equal(r.freedBytes, 1302);
  assert.equal(r.kept, 2);
  assert.deepEqual(readdirSync(join(dir, 'graphs')).sort(), [G2, 'not-a-key']);
  assert.ok(existsSync(join(dir, 'v1', 'digests.json')));
  const only = cleanCache(dir, { kinds: ['folders'] });
  assert.deepEqual(
    only.removed.map((i) => i.kind),
    ['folders'],
  );
  assert.ok(existsSync(join(dir, 'graphs', G2)));
  assert.equal(cleanCache(dir).removed.length, 1);
  assert.deepEqual(listCache(dir), []);
});

test('cleanCache: a folder collection whose writer lock is held is skipped and named; free again, it is removed', () => {
  const dir = join(root, 'locked');
  layout(dir);
  const lock = WriterLock.acquire(join(dir, 'folders', F, '.fgclip-writer.lock'), 'fgclip search (test)');
  const r = cleanCache(dir, { kinds: ['folders'] });
  assert.equal(r.removed.length, 0);
  assert.equal(r.skipped.length, 1);
  assert.match(r.skipped[0].reason, /fgclip search \(test\)/);
  assert.ok(existsSync(join(dir, 'folders', F, FOLDER_NOTE)));
  lock.release();
  assert.equal(cleanCache(dir, { kinds: ['folders'] }).removed.length, 1);
  assert.ok(!existsSync(join(dir, 'folders', F)));
});

test('cleanCache: trash left by a killed cleaner (dead pid) is removed; trash of a live process is left alone', () => {
  const dir = join(root, 'trash');
  const host = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
  const dead = `${G}.trash-${host}-2147483646-0badf00d`;
  const live = `${G2}.trash-${host}-${process.pid}-0badf00d`;
  for (const n of [dead, live]) mkdirSync(join(dir, 'graphs', n, 'text'), { recursive: true });
  const r = cleanCache(dir);
  assert.equal(r.leftovers, 1);
  assert.deepEqual(readdirSync(join(dir, 'graphs')), [live]);
});

test('cleanCache: a negative or non-finite age and an unknown kind are INPUT_INVALID', () => {
  for (const opts of [{ olderThanDays: -1 }, { olderThanDays: Number.NaN }, { kinds: ['models' as never] }]) {
    assert.throws(
      () => cleanCache(join(root, 'bad'), opts),
      (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID',
    );
  }
});
