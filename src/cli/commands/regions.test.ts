/**
 * `fgclip regions --labels` in-process: per box, p = softmax(100·cos(normalize(region_features),
 * normalize(text_short feature))) from the goldens (max abs 1e-4; JPEG 2e-3), with boxes given as --box (xyxy),
 * a COCO xywh --boxes file and a text file; and its error exits.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { goldenPath, maxAbsDiff, readGoldenJson } from '../../test-util/goldens.js';
import { run } from '../../test-util/cli.js';
import { dot64 } from '../../test-util/fixtures.js';

interface Cases {
  text_short: { texts: string[]; features: number[][] };
  end_to_end: { cases: { image: string; boxes_pixels_xyxy: number[][]; region_features: number[][] }[] };
}
const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const softmax64 = (x: number[]) => {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

interface RegionsJson {
  regions: { box: number[]; labels: { label: string; probability: number; cosine: number }[] }[];
}

describe('fgclip regions --labels (CLI) on fgclip-tiny', () => {
  const C = readGoldenJson<Cases>('fgclip-tiny.cases.json');
  const model = goldenPath('fgclip-tiny');
  const tmp = mkdtempSync(join(tmpdir(), 'fgclip-cli-regions-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const labels = ['a photo of a cat', 'a photo of a dog', 'white cat', 'two cups of coffee on a table'];
  const T = labels.map((l) => unit(C.text_short.features[C.text_short.texts.indexOf(l)]));

  const check = (j: RegionsJson, c: Cases['end_to_end']['cases'][number]) => {
    assert.equal(j.regions.length, c.boxes_pixels_xyxy.length);
    j.regions.forEach((r, b) => {
      const p = softmax64(T.map((t) => 100 * dot64(unit(c.region_features[b]), t)));
      const by = new Map(r.labels.map((l) => [l.label, l.probability]));
      assert.ok(
        maxAbsDiff(
          labels.map((l) => by.get(l) ?? NaN),
          p,
        ) <= (c.image.endsWith('.jpg') ? 2e-3 : 1e-4),
        `${c.image} box ${b}`,
      );
      for (let k = 1; k < r.labels.length; k++) assert.ok(r.labels[k - 1].probability >= r.labels[k].probability);
    });
  };

  test('COCO [x, y, w, h] boxes file (--box-format xywh) gives the golden region probabilities', async () => {
    for (const [i, c] of C.end_to_end.cases.entries()) {
      const file = join(tmp, `boxes${i}.json`);
      writeFileSync(file, JSON.stringify(c.boxes_pixels_xyxy.map((b) => ({ bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]], category_id: 1 }))));
      const r = await run(['regions', '-m', model, goldenPath(c.image), '--boxes', file, '--box-format', 'xywh', '--labels', labels.join(','), '--json']);
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out) as RegionsJson;
      j.regions.forEach((x, b) => assert.ok(maxAbsDiff(x.box, c.boxes_pixels_xyxy[b]) <= 1e-9, 'boxes reported as x1,y1,x2,y2'));
      check(j, c);
    }
  });

  test('--box x1,y1,x2,y2 and a text boxes file (xyxy) give the same probabilities', async () => {
    const c = C.end_to_end.cases[1];
    const [a, b] = c.boxes_pixels_xyxy;
    const txt = join(tmp, 'boxes.txt');
    writeFileSync(txt, `# x1 y1 x2 y2\n${b.join(' ')}\n`);
    const r = await run(['regions', '-m', model, '--image', goldenPath(c.image), '--box', a.join(','), '--boxes', txt, '--labels', labels.join(','), '--json']);
    assert.equal(r.code, 0, r.err);
    check(JSON.parse(r.out) as RegionsJson, c);
  });

  test('a box outside the image is BOX_INVALID (exit 1); no boxes or a bad --box-format exit 2; a bad file entry is BOX_INVALID', async () => {
    const img = goldenPath('images', 'gray_50x50.png');
    const out = await run(['regions', '-m', model, img, '--box', '60,0,70,10', '--labels', 'a,b']);
    assert.equal(out.code, 1);
    assert.match(out.err, /\[BOX_INVALID\].*entirely outside the 50×50 image/);
    const inverted = await run(['regions', '-m', model, img, '--box', '10,10,5,20', '--labels', 'a,b']);
    assert.equal(inverted.code, 1);
    assert.match(inverted.err, /\[BOX_INVALID\].*x2 < x1/);
    assert.equal((await run(['regions', '-m', model, img, '--labels', 'a,b'])).code, 2);
    const bf = join(tmp, 'b.json');
    writeFileSync(bf, '[[1,2,3,4]]');
    assert.equal((await run(['regions', '-m', model, img, '--boxes', bf, '--box-format', 'cxcywh'])).code, 2);
    writeFileSync(bf, '[[1,2,3,4], {"bbox": [1, 2]}]');
    const bad = await run(['regions', '-m', model, img, '--boxes', bf]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /\[BOX_INVALID\].*entry 2 is not four numbers/);
    const empty = await run(['regions', '-m', model, img, '--box', '0,0,5,5', '--labels', ',']);
    assert.equal(empty.code, 1);
    assert.match(empty.err, /label list is empty/);
  });
});
