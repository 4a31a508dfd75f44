/**
 * `fgclip heatmap` in-process: the --json contract {"grid", "texts", "similarity"} against
 * normalize(dense_features)·normalize(text_short feature) from the goldens (rel L2 1e-4; JPEG 2e-3), the PNG
 * written by --out, and exit codes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { goldenPath, readGoldenJson, relL2 } from '../../test-util/goldens.js';
import { run } from '../../test-util/cli.js';
import { dot64 } from '../../test-util/fixtures.js';

interface Cases {
  text_short: { texts: string[]; features: number[][] };
  end_to_end: { cases: { image: string; dense_features: number[][] }[] };
}
const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

for (const size of ['tiny', 'small'] as const) {
  describe(`fgclip heatmap (CLI) on fgclip-${size}`, () => {
    const C = readGoldenJson<Cases>(`fgclip-${size}.cases.json`);
    const model = goldenPath(`fgclip-${size}`);
    const tmp = mkdtempSync(join(tmpdir(), 'fgclip-cli-heat-'));
    after(() => rmSync(tmp, { recursive: true, force: true }));
    const texts = ['white cat', 'a photo of a dog'];
    const T = texts.map((t) => unit(C.text_short.features[C.text_short.texts.indexOf(t)]));

    test('--json: grid [g, g], texts, similarity[t] = golden normalized dense · text (rel L2 1e-4; JPEG 2e-3)', async () => {
      for (const c of C.end_to_end.cases) {
        const r = await run(['heatmap', '-m', model, goldenPath(c.image), '--text', texts[0], '--text', texts[1], '--json']);
        assert.equal(r.code, 0, r.err);
        const j = JSON.parse(r.out) as { grid: number[]; texts: string[]; similarity: number[][] };
        assert.deepEqual(Object.keys(j), ['grid', 'texts', 'similarity']);
        const g = Math.round(Math.sqrt(c.dense_features.length));
        assert.deepEqual(j.grid, [g, g]);
        assert.deepEqual(j.texts, texts);
        T.forEach((t, k) => {
          const want = c.dense_features.map((d) => dot64(unit(d), t));
          assert.ok(relL2(j.similarity[k], want) <= (c.image.endsWith('.jpg') ? 2e-3 : 1e-4), `${c.image} ${texts[k]}`);
        });
      }
    });

    test('--out writes a PNG with one panel per text; the summary names the file', async () => {
      const out = join(tmp, 'heat.png');
      const r = await run(['heatmap', '-m', model, goldenPath('images', 'cat_dfclor.jpg'), '-t', 'white cat', '-t', 'a dog', '--out', out]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /"white cat": \d+×\d+ cosines from -?\d\.\d{4} to -?\d\.\d{4}\n"a dog": /);
      assert.match(r.out, new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n$`));
      const meta = await sharp(out).metadata();
      assert.equal(meta.format, 'png');
      assert.ok(meta.width > meta.height, 'two panels side by side');
    });
  });
}

describe('fgclip heatmap (CLI) errors', () => {
  const model = goldenPath('fgclip-tiny');
  test('usage errors exit 2: no --text, neither --out nor --json, no image, two images', async () => {
    const img = goldenPath('images', 'gray_50x50.png');
    for (const [args, re] of [
      [[img, '--json'], /at least one --text/],
      [[img, '--text', 'x'], /give --out FILE\.png .*and\/or --json/],
      [['--text', 'x', '--json'], /IMAGE .* is required/],
      [[img, img, '--text', 'x', '--json'], /one image at a time/],
    ] as [string[], RegExp][]) {
      const r = await run(['heatmap', '-m', model, ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, re);
    }
  });

  test('an unreadable image is IMAGE_DECODE (exit 1)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fgclip-cli-heat-'));
    const bad = join(dir, 'bad.png');
    writeFileSync(bad, 'nope');
    const r = await run(['heatmap', '-m', model, bad, '--text', 'x', '--json']);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(r.code, 1);
    assert.match(r.err, /\[IMAGE_DECODE\]/);
  });
});
