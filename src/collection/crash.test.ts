/**
 * kill -9 of a real `fgclip index` child process at several points (right after each kind of commit: an embedded
 * batch, the removal of image rows before their regions, and at fixed times) always leaves a consistent collection:
 * no duplicate content, every image row has all its region rows, no removed image is searchable; and the rerun
 * completes it: every file indexed once, nothing lost, orphans swept. Also: two concurrent runs on one collection,
 * one wins and the other exits 1 with one COLLECTION_LOCKED line, and the collection is complete afterwards.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, spawnCli } from '../test-util/cli-process.js';
import { writePng } from '../test-util/fixtures.js';
import { goldenPath } from '../test-util/goldens.js';
import { Collection } from './collection.js';
import { schemeBoxes } from './regions.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-crash-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));
const MODEL = goldenPath('fgclip-tiny');
const N = 24;
const R = schemeBoxes('grid', 4).length;
const env = { FGCLIP_TRACE_COMMITS: '1', FGCLIP_CACHE: join(ROOT, 'cache') };

/** Runs `fgclip index` and SIGKILLs it when its stderr shows `marker` for the `nth` time (or after `ms`). */
async function killAt(uri: string, dir: string, when: { marker?: RegExp; nth?: number; ms?: number }): Promise<string> {
  const child = spawnCli(['index', dir, '--model', MODEL, '--collection', uri, '--batch-size', '4', '--json'], env);
  let err = '';
  let seen = 0;
  const timer = when.ms !== undefined ? setTimeout(() => child.kill('SIGKILL'), when.ms) : undefined;
  child.stderr?.on('data', (d) => {
    err += String(d);
    if (!when.marker) return;
    for (const line of String(d).split('\n')) if (when.marker.test(line) && ++seen === (when.nth ?? 1)) child.kill('SIGKILL');
  });
  await new Promise((r) => child.on('close', r));
  if (timer) clearTimeout(timer);
  return err;
}

async function checkConsistent(uri: string, files?: string[]): Promise<number> {
  const c = await Collection.open(uri);
  try {
    const entries = await c.entries();
    assert.equal(new Set(entries.map((e) => e.sha256)).size, entries.length, 'no duplicate content');
    const regions = await c.regionTable.query().select(['sha256', 'rid']).toArray();
    assert.equal(new Set(regions.map((r) => r.rid as string)).size, regions.length, 'no duplicate region row');
    const per = new Map<string, number>();
    for (const r of regions) per.set(r.sha256 as string, (per.get(r.sha256 as string) ?? 0) + 1);
    for (const e of entries) assert.equal(per.get(e.sha256), R, `${e.path}: all ${R} regions committed with its image row`);
    if (files) {
      const hits = await c.searchRegionsVector(new Float32Array(24).fill(0.2), { top: 1000 });
      for (const h of hits) assert.ok(files.includes(h.path), `${h.path}: a removed image is not searchable`);
    }
    return entries.length;
  } finally {
    c.close();
  }
}

describe('kill -9 during fgclip index', () => {
  const dir = join(ROOT, 'photos');
  before(async () => {
    mkdirSync(dir);
    for (let i = 0; i < N; i++) await writePng(join(dir, `im${String(i).padStart(2, '0')}.png`), 30 + i, 20 + i, 100 + i);
  });

  for (const [label, when] of [
    ['after the first batch commit', { marker: /commit upsert/, nth: 1 }],
    ['after the third batch commit', { marker: /commit upsert/, nth: 3 }],
    ['after the last batch commit', { marker: /commit upsert/, nth: N / 4 }],
    ['at 2.5 s', { ms: 2500 }],
  ] as const) {
    test(`killed ${label}: consistent, and the rerun completes with no duplicate and nothing lost`, async () => {
      const uri = join(ROOT, `c-${label.replace(/\W+/g, '-')}`);
      await killAt(uri, dir, when);
      try {
        assert.ok((await checkConsistent(uri)) <= N);
      } catch (e) {
        if (!/no collection here/.test(String(e))) throw e; // killed before the collection was created
      }
      const r = await runCli(['index', dir, '--model', MODEL, '--collection', uri, '--json'], env);
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out) as Record<string, number>;
      assert.equal(j.total, N);
      assert.equal(j.added + j.unchanged, N);
      assert.equal(await checkConsistent(uri), N);
    });
  }

  test('killed between removing image rows and their regions: removed images are not searchable; the rerun sweeps', async () => {
    const uri = join(ROOT, 'c-remove');
    const d = join(ROOT, 'photos-rm');
    mkdirSync(d);
    for (let i = 0; i < 8; i++) await writePng(join(d, `r${i}.png`), 30 + i, 30, 200 + i);
    assert.equal((await runCli(['index', d, '--model', MODEL, '--collection', uri, '--json'], env)).code, 0);
    for (let i = 0; i < 3; i++) rmSync(join(d, `r${i}.png`));
    const err = await killAt(uri, d, { marker: /commit remove images/ });
    assert.match(err, /commit remove images/);
    const left = Array.from({ length: 5 }, (_, i) => join(d, `r${i + 3}.png`));
    assert.equal(await checkConsistent(uri, left), 5);
    const r = await runCli(['index', d, '--model', MODEL, '--collection', uri, '--json'], env);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { added: 0, updated: 0, removed: 0, unchanged: 5, total: 5 });
    const c = await Collection.open(uri);
    assert.equal(await c.regionTable.countRows(), 5 * R, 'orphan regions swept');
    c.close();
  });

  test('two concurrent index runs: one completes, the other exits 1 with one COLLECTION_LOCKED line', async () => {
    const uri = join(ROOT, 'c-concurrent');
    const [a, b] = await Promise.all([
      runCli(['index', dir, '--model', MODEL, '--collection', uri, '--json'], {}),
      runCli(['index', dir, '--model', MODEL, '--collection', uri, '--json'], {}),
    ]);
    const codes = [a.code, b.code].sort();
    const loser = a.code === 0 ? b : a;
    if (codes[0] === 0 && codes[1] === 0) {
      // the second started after the first had finished (slow machine): both succeed, the second changes nothing
      assert.equal(JSON.parse(b.out).total, N);
    } else {
      assert.deepEqual(codes, [0, 1]);
      assert.equal(loser.err.trim().split('\n').length, 1, loser.err);
      assert.match(loser.err, /^fgclip: error \[COLLECTION_LOCKED\]: collection is being written by fgclip index/);
    }
    assert.equal(await checkConsistent(uri), N);
  });
});
