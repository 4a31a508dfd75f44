/**
 * `fgclip index` / `fgclip search --collection` in-process: the --json contracts, progress with rate and ETA only
 * on a terminal, and usage and runtime errors as one stderr line with exit 2 (usage) or 1 (runtime).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run } from '../../test-util/cli.js';
import { writePng } from '../../test-util/fixtures.js';
import { goldenPath } from '../../test-util/goldens.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-cli-coll-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));
const TINY = goldenPath('fgclip-tiny');
const env = { FGCLIP_CACHE: join(ROOT, 'cache') };

describe('fgclip index / search --collection', () => {
  const dir = join(ROOT, 'photos');
  const coll = join(ROOT, 'c');
  before(async () => {
    mkdirSync(dir);
    for (let i = 0; i < 4; i++) await writePng(join(dir, `c${i}.png`), 30 + i, 30, 700 + i);
  });

  test('index --json counts; on a terminal, progress with rate and ETA on stderr (none when piped)', async () => {
    const r = await run(['index', dir, '--model', TINY, '--collection', coll, '--json'], env, true);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { added: 4, updated: 0, removed: 0, unchanged: 0, total: 4 });
    assert.match(r.err, /embedding 4\/4 {2}[\d.]+\/s {2}ETA \d+s/);
    const piped = await run(['index', dir, '--model', TINY, '--collection', coll, '--json'], env, false);
    assert.deepEqual(JSON.parse(piped.out), { added: 0, updated: 0, removed: 0, unchanged: 4, total: 4 });
    assert.equal(piped.err, '');
  });

  test('search --collection --json: results best first with cosine scores; --regions adds boxes', async () => {
    const r = await run(['search', '--collection', coll, '--model', TINY, '--text', 'a red car', '--top', '3', '--json'], env);
    assert.equal(r.code, 0, r.err);
    const res = JSON.parse(r.out).results as { path: string; score: number; box?: number[] }[];
    assert.equal(res.length, 3);
    assert.ok(res.every((x, i) => x.path.startsWith(dir) && Math.abs(x.score) <= 1 && (i === 0 || res[i - 1].score >= x.score)));
    const g = await run(['search', '--collection', coll, '--model', TINY, '--text', 'a red car', '--regions', '--json'], env);
    assert.ok((JSON.parse(g.out).results as { box: number[] }[]).every((x) => x.box.length === 4));
    const f = await run(['search', '--collection', coll, '--model', TINY, '--text', 'x', '--path', '*c1.png', '--json'], env);
    assert.deepEqual(
      JSON.parse(f.out).results.map((x: { path: string }) => x.path),
      [join(dir, 'c1.png')],
    );
  });

  test('errors: one stderr line; exit 2 for usage, 1 for runtime', async () => {
    const cases: [string[], number, RegExp][] = [
      [['index', dir, '--model', TINY], 2, /index: --collection PATH is required/],
      [['index', '--model', TINY, '--collection', coll], 2, /give a folder/],
      [['index', dir, '--model', TINY, '--collection', coll, '--regions', 'all'], 2, /--regions: expected grid, patches or none/],
      [['index', join(ROOT, 'nope'), '--model', TINY, '--collection', coll], 1, /\[INPUT_INVALID\]: index: .*nope: no such file or folder/],
      [['search', '--collection', coll, '--model', TINY, dir, '--text', 'x'], 2, /with --collection give no folder/],
      [['search', '--collection', coll, '--model', TINY], 2, /either --text/],
      [['search', '--collection', coll, '--model', TINY, '--text', 'x', '--after', 'someday'], 2, /--after: expected a date/],
      [
        ['search', '--collection', join(ROOT, 'none'), '--model', TINY, '--text', 'x'],
        1,
        /\[COLLECTION_INVALID\]: collection .*none: there is no collection here/,
      ],
      [['search', '--collection', coll, '--model', goldenPath('fgclip-small'), '--text', 'x'], 1, /\[COLLECTION_MODEL_MISMATCH\]/],
      [['worker', '--model', TINY], 2, /worker: --queue redis:\/\/HOST:PORT is required/],
    ];
    for (const [argv, code, re] of cases) {
      const r = await run(argv, env);
      assert.equal(r.code, code, `${argv.join(' ')}: ${r.err}`);
      assert.equal(r.err.trim().split('\n').length, 1, `${argv.join(' ')}: one line: ${r.err}`);
      assert.match(r.err, re);
    }
  });
});
