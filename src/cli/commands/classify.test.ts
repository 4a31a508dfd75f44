/**
 * `fgclip classify` run in-process through main() with captured streams: the --json / --jsonl contract, values
 * against softmax(exp(logit_scale)·cos) from the golden features (max abs 1e-4), exit codes and messages.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { goldenPath, maxAbsDiff, readGoldenJson } from '../../test-util/goldens.js';
import { run } from '../../test-util/cli.js';
import { dot64 } from '../../test-util/fixtures.js';

interface Cases {
  logit_scale: number;
  text_short: { texts: string[]; features: number[][] };
  end_to_end: { cases: { image: string; image_features: number[] }[] };
}
const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

describe('fgclip classify (CLI)', () => {
  const C = readGoldenJson<Cases>('fgclip-tiny.cases.json');
  const model = goldenPath('fgclip-tiny');
  const tmp = mkdtempSync(join(tmpdir(), 'fgclip-cli-classify-'));
  const env = { FGCLIP_CACHE: join(tmp, 'cache') };
  const labels = ['a photo of a cat', 'a photo of a dog', 'white cat'];
  const images = C.end_to_end.cases.slice(1, 4).map((c) => goldenPath(c.image)); // PNGs
  const expected = (i: number) => {
    const cos = labels.map((l) => dot64(unit(C.end_to_end.cases[i + 1].image_features), unit(C.text_short.features[C.text_short.texts.indexOf(l)])));
    const e = cos.map((c) => Math.exp(Math.exp(C.logit_scale) * c));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('--json: {"results": [{"image", "labels": [{"label", "probability", "cosine"}]}]} sorted, probabilities = golden within 1e-4', async () => {
    const r = await run(['classify', '-m', model, ...images, '--labels', labels.join(','), '--json'], env);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { results: { image: string; labels: { label: string; probability: number; cosine: number }[] }[]; scoring: string };
    assert.deepEqual(Object.keys(j), ['results', 'scoring']);
    assert.equal(j.scoring, 'softmax'); // FG-CLIP v1: a softmax over the labels
    assert.deepEqual(
      j.results.map((x) => x.image),
      images,
    );
    j.results.forEach((x, i) => {
      assert.deepEqual(Object.keys(x), ['image', 'labels']);
      assert.equal(x.labels.length, 3);
      for (const l of x.labels) assert.deepEqual(Object.keys(l), ['label', 'probability', 'cosine']);
      for (let k = 1; k < 3; k++) assert.ok(x.labels[k - 1].probability >= x.labels[k].probability);
      const p = new Map(x.labels.map((l) => [l.label, l.probability]));
      assert.ok(
        maxAbsDiff(
          labels.map((l) => p.get(l) ?? NaN),
          expected(i),
        ) <= 1e-4,
      );
    });
    assert.ok(readdirSync(join(tmp, 'cache', 'v1')).length > 0, 'label cache written under FGCLIP_CACHE');
  });

  test('--jsonl prints one {"image", "labels"} per line, equal to the --json results; --top 1 keeps one label', async () => {
    const a = await run(['classify', '-m', model, ...images, '--labels', labels.join(','), '--json'], env);
    const b = await run(['classify', '-m', model, ...images, '--labels', labels.join(','), '--jsonl'], env);
    assert.equal(b.code, 0);
    const lines = b.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(
      lines,
      (JSON.parse(a.out) as { results: object[] }).results.map((x) => ({ ...x, scoring: 'softmax' })),
    );
    const t = await run(['classify', '-m', model, images[0], '--labels', labels.join(','), '--json', '--top', '1'], env);
    const j = JSON.parse(t.out) as { results: { labels: unknown[] }[] };
    assert.equal(j.results[0].labels.length, 1);
  });

  test('table: each image then its labels (top 5 by default), --labels-file with comments, --templates FILE', async () => {
    const lf = join(tmp, 'labels.txt');
    writeFileSync(lf, '# animals\na photo of a cat\n\na photo of a dog\n');
    const tf = join(tmp, 'templates.txt');
    writeFileSync(tf, '{}\n{} indeed\n');
    const r = await run(['classify', '-m', model, images[0], '--labels-file', lf, '--templates', tf, '--no-cache'], env);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines[0], images[0]);
    assert.equal(lines.length, 3);
    assert.match(lines[1], /^\s+\d+\.\d\d% {2}cos -?\d\.\d{4} {2}a photo of a (cat|dog)$/);
  });

  test('an unreadable image is skipped with a warning (exit 0); nothing readable exits 1; --quiet silences the warning', async () => {
    const bad = join(tmp, 'bad.png');
    writeFileSync(bad, 'not a png');
    const r = await run(['classify', '-m', model, bad, images[0], '--labels', 'cat,dog', '--json'], env);
    assert.equal(r.code, 0);
    assert.match(r.err, /warning: skipping .*bad\.png: .*not a supported image/);
    assert.equal((JSON.parse(r.out) as { results: unknown[] }).results.length, 1);
    const q = await run(['classify', '-m', model, bad, images[0], '--labels', 'cat,dog', '--quiet'], env);
    assert.equal(q.code, 0);
    assert.equal(q.err, '');
    const none = await run(['classify', '-m', model, bad, '--labels', 'cat,dog'], env);
    assert.equal(none.code, 1);
    assert.match(none.err, /error \[IMAGE_DECODE\]: classify: none of the 1 image\(s\) could be read/);
  });

  test('usage errors exit 2: missing --labels, unknown --templates, --json with --jsonl, no images, unknown option, --top 0', async () => {
    const cases: [string[], RegExp][] = [
      [[images[0]], /--labels "a cat,a dog" or --labels-file FILE is required/],
      [[images[0], '--labels', 'a,b', '--templates', 'imagenet21k'], /--templates: expected none, imagenet or a file/],
      [[images[0], '--labels', 'a,b', '--json', '--jsonl'], /exclude each other/],
      [['--labels', 'a,b'], /give one or more IMAGE files/],
      [[images[0], '--labels', 'a,b', '--frobnicate'], /unknown option '--frobnicate'/i],
      [[images[0], '--labels', 'a,b', '--top', '0'], /--top: expected an integer ≥ 1/],
      [[images[0], '--labels', 'a,b', '--no-cache', '--cache-dir', tmp], /exclude each other/],
    ];
    for (const [args, re] of cases) {
      const r = await run(['classify', '-m', model, ...args], env);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, re);
    }
  });

  test('an empty label list or a repeated label is INPUT_INVALID (exit 1)', async () => {
    const e = await run(['classify', '-m', model, images[0], '--labels', ' , '], env);
    assert.equal(e.code, 1);
    assert.match(e.err, /\[INPUT_INVALID\].*label list is empty/);
    const d = await run(['classify', '-m', model, images[0], '--labels', 'cat,dog,cat'], env);
    assert.equal(d.code, 1);
    assert.match(d.err, /repeats label 1/);
  });
});
