/**
 * `fgclip search` in-process: the --json contract, scores against cosines from the golden features (1e-4; JPEG
 * 2e-3), the cache report on stderr (first run encodes, second run reads the cache), skipped files, exit codes.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { goldenPath, readGoldenJson } from '../../test-util/goldens.js';
import { run } from '../../test-util/cli.js';
import { dot64 } from '../../test-util/fixtures.js';

interface Cases {
  text_short: { texts: string[]; features: number[][] };
  end_to_end: { cases: { image: string; image_features: number[] }[] };
}
const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

describe('fgclip search (CLI)', () => {
  const C = readGoldenJson<Cases>('fgclip-tiny.cases.json');
  const model = goldenPath('fgclip-tiny');
  const tmp = mkdtempSync(join(tmpdir(), 'fgclip-cli-search-'));
  const dir = join(tmp, 'photos');
  const env = { FGCLIP_CACHE: join(tmp, 'cache') };
  mkdirSync(join(dir, 'nested'), { recursive: true });
  const placed = C.end_to_end.cases.map((c, i) => {
    const p = join(dir, i % 2 ? 'nested' : '', c.image.split('/').pop() as string);
    copyFileSync(goldenPath(c.image), p);
    return p;
  });
  writeFileSync(join(dir, 'nested', 'corrupt.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0, 1]));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('--json: {"results": [{"path", "score"}]} ranked, scores = golden cosines; first run encodes 5, second 0', async () => {
    const r = await run(['search', '-m', model, dir, '--text', 'white cat', '--json'], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /warning: skipping .*corrupt\.jpg/);
    assert.match(r.err, /5 image\(s\) ranked: 5 encoded, 0 from the cache, 1 skipped/);
    const j = JSON.parse(r.out) as { results: { path: string; score: number }[] };
    assert.deepEqual(Object.keys(j), ['results']);
    assert.equal(j.results.length, 5);
    const t = unit(C.text_short.features[C.text_short.texts.indexOf('white cat')]);
    C.end_to_end.cases.forEach((c, i) => {
      const hit = j.results.find((x) => x.path === placed[i]);
      assert.ok(hit);
      assert.deepEqual(Object.keys(hit), ['path', 'score']);
      assert.ok(Math.abs(hit.score - dot64(unit(c.image_features), t)) <= (c.image.endsWith('.jpg') ? 2e-3 : 1e-4));
    });
    for (let i = 1; i < 5; i++) assert.ok(j.results[i - 1].score >= j.results[i].score);
    const again = await run(['search', '-m', model, dir, '--image', placed[3], '--top', '2'], env);
    assert.equal(again.code, 0);
    assert.match(again.err, /5 image\(s\) ranked: 0 encoded, 5 from the cache/);
    const lines = again.out.split('\n').filter(Boolean);
    assert.equal(lines.length, 2);
    assert.match(lines[0], new RegExp(`^  1  1\\.0000  ${placed[3].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  });

  test('--no-cache encodes everything and writes no cache; --quiet prints no notices', async () => {
    const cacheDir = join(tmp, 'other-cache');
    const r = await run(['search', '-m', model, dir, '--text', 'a dog', '--no-cache', '--quiet'], { FGCLIP_CACHE: cacheDir });
    assert.equal(r.code, 0);
    assert.equal(r.err, '');
    assert.equal(r.out.trim().split('\n').length, 5);
  });

  test('exit codes: no readable image → 1; no query, two queries or two folders → 2', async () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'x.png'), 'nope');
    const r = await run(['search', '-m', model, empty, '--text', 'x'], env);
    assert.equal(r.code, 1);
    assert.match(r.err, /error \[INPUT_INVALID\]: search: no readable images under/);
    for (const args of [[dir], [dir, '--text', 'a', '--image', placed[0]], [dir, empty, '--text', 'a']]) {
      const u = await run(['search', '-m', model, ...args], env);
      assert.equal(u.code, 2, args.join(' '));
    }
    const missing = await run(['search', '-m', model, join(tmp, 'nope'), '--text', 'x'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /\[INPUT_INVALID\]: images folder .*nope: cannot read it/);
  });
});
