/**
 * `fgclip cache` end to end: a real folder search (fgclip-tiny) leaves a folder collection and graphs in the cache;
 * `cache --json` lists them with the searched folder; `cache clean --only folders` removes the collection and the next
 * search rebuilds it with the same scores (1e-6); bad usage exits 2.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run } from '../../test-util/cli.js';
import { goldenPath, readGoldenJson } from '../../test-util/goldens.js';

const tmp = mkdtempSync(join(tmpdir(), 'fgclip-cli-cache-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const env = { FGCLIP_CACHE: join(tmp, 'cache') };

test('fgclip cache: lists the folder collection of a search; clean --only folders removes it; the next search rebuilds the same scores (1e-6)', async () => {
  const C = readGoldenJson<{ end_to_end: { cases: { image: string }[] } }>('fgclip-tiny.cases.json');
  const dir = join(tmp, 'photos');
  mkdirSync(dir);
  for (const c of C.end_to_end.cases) copyFileSync(goldenPath(c.image), join(dir, c.image.split('/').pop() as string));
  const search = () => run(['search', '-m', goldenPath('fgclip-tiny'), dir, '--text', 'white cat', '--json'], env);
  const first = await search();
  assert.equal(first.code, 0, first.err);

  const ls = await run(['cache', '--json'], env);
  assert.equal(ls.code, 0, ls.err);
  const listed = JSON.parse(ls.out) as { path: string; bytes: number; entries: { kind: string; bytes: number; about?: string }[] };
  assert.equal(listed.path, env.FGCLIP_CACHE);
  const folders = listed.entries.filter((e) => e.kind === 'folders');
  assert.equal(folders.length, 1);
  assert.equal(folders[0].about, dir);
  assert.ok(listed.entries.some((e) => e.kind === 'graphs'));
  assert.equal(
    listed.bytes,
    listed.entries.reduce((n, e) => n + e.bytes, 0),
  );

  const dry = await run(['cache', 'clean', '--only', 'folders', '--dry-run', '--json'], env);
  assert.equal(JSON.parse(dry.out).removed.length, 1);
  const clean = await run(['cache', 'clean', '--only', 'folders', '--json'], env);
  assert.equal(clean.code, 0, clean.err);
  assert.equal(JSON.parse(clean.out).removed[0].about, dir);
  const after = JSON.parse((await run(['cache', '--json'], env)).out) as { entries: { kind: string }[] };
  assert.deepEqual(
    after.entries.filter((e) => e.kind === 'folders'),
    [],
  );
  assert.ok(
    after.entries.some((e) => e.kind === 'graphs'),
    'graphs were not asked for and stay',
  );

  const again = await search();
  assert.equal(again.code, 0, again.err);
  const a = JSON.parse(first.out).results as { path: string; score: number }[];
  const b = JSON.parse(again.out).results as { path: string; score: number }[];
  assert.deepEqual(
    b.map((r) => r.path),
    a.map((r) => r.path),
  );
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i].score - b[i].score) <= 1e-6);
});

test('fgclip cache: bad usage exits 2 with one line naming the problem', async () => {
  for (const [args, re] of [
    [['cache', 'purge'], /expected 'ls' or 'clean'/],
    [['cache', 'clean', '--older-than', '-3'], /--older-than expects a number of days/],
    [['cache', 'clean', '--only', 'models'], /--only expects some of graphs,folders,embeddings/],
    [['cache', 'ls', '--dry-run'], /belong to `fgclip cache clean`/],
  ] as const) {
    const r = await run([...args], env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
  }
});
