/**
 * classify / heatmap / regions against scores computed here, directly from the reference's float64 features
 * (../shared/goldens `end_to_end` cases and `text_short`), for both checkpoints. Tolerances (goldens/README.md):
 * probabilities max abs 1e-4; cosines max abs 1e-4; heatmap grids relative L2 1e-4. The JPEG case allows 2e-3,
 * since JPEG decoding may differ from Pillow's by one level on a few pixels.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { goldenPath, maxAbsDiff, readGoldenJson, relL2 } from '../test-util/goldens.js';
import { FgClip } from '../model/handle.js';
import { classifyImages } from './classify.js';
import { heatmap } from './heatmap.js';
import { classifyRegions, FGOVD_SCALE } from './regions.js';
import { fillTemplate, IMAGENET_TEMPLATES } from './templates.js';

interface Cases {
  logit_scale: number;
  text_short: { texts: string[]; features: number[][] };
  end_to_end: { cases: { image: string; image_features: number[]; dense_features: number[][]; boxes_pixels_xyxy: number[][]; region_features: number[][] }[] };
}

const TOL = 1e-4;
const JPEG_TOL = 2e-3;
const tolFor = (image: string) => (/\.jpe?g$/i.test(image) ? JPEG_TOL : TOL);

/** Independent float64 reference helpers (not the library's). */
function unit(v: ArrayLike<number>): number[] {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s);
  return Array.from(v, (x) => x / n);
}
function dot64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
function softmax64(x: number[]): number[] {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
function meanUnit(vs: ArrayLike<number>[]): number[] {
  const u = vs.map(unit);
  return unit(u[0].map((_, d) => u.reduce((s, v) => s + v[d], 0) / u.length));
}

for (const size of ['tiny', 'small'] as const) {
  describe(`tasks on fgclip-${size} against scores from the golden features`, () => {
    const C = readGoldenJson<Cases>(`fgclip-${size}.cases.json`);
    const scale = Math.exp(C.logit_scale);
    // the distinct, non-empty short texts
    const labels = C.text_short.texts.slice(0, 6);
    const textRef = C.text_short.features.slice(0, 6).map(unit);
    const cases = C.end_to_end.cases;
    const files = cases.map((c) => goldenPath(c.image));
    let model: FgClip;
    before(async () => {
      model = await FgClip.load(goldenPath(`fgclip-${size}`), { threads: 2 });
    });
    after(() => model.dispose());

    test(`classify (templates none, batches of 2): probabilities = softmax(exp(logit_scale)·cos) within ${TOL} (JPEG ${JPEG_TOL})`, async () => {
      const out = await classifyImages(model, files, labels, { cache: false, batchSize: 2 });
      assert.equal(out.skipped.length, 0);
      assert.deepEqual(
        out.results.map((r) => r.image),
        files,
      );
      out.results.forEach((r, i) => {
        const cos = textRef.map((t) => dot64(unit(cases[i].image_features), t));
        const p = softmax64(cos.map((c) => scale * c));
        const by = new Map(r.labels.map((l) => [l.label, l]));
        assert.equal(by.size, labels.length);
        const tol = tolFor(cases[i].image);
        assert.ok(
          maxAbsDiff(
            labels.map((l) => by.get(l)?.probability ?? NaN),
            p,
          ) <= tol,
          `${r.image}: probabilities`,
        );
        assert.ok(
          maxAbsDiff(
            labels.map((l) => by.get(l)?.cosine ?? NaN),
            cos,
          ) <= tol,
          `${r.image}: cosines`,
        );
        for (let k = 1; k < r.labels.length; k++) assert.ok(r.labels[k - 1].probability >= r.labels[k].probability, 'sorted by probability');
      });
    });

    test('classify --top keeps the K most probable labels, in order', async () => {
      const all = await classifyImages(model, files.slice(0, 2), labels, { cache: false });
      const top = await classifyImages(model, files.slice(0, 2), labels, { cache: false, top: 2 });
      top.results.forEach((r, i) => assert.deepEqual(r.labels, all.results[i].labels.slice(0, 2)));
    });

    test('classify with templates: the class vector is the mean of normalized prompt features, renormalized (rel 1e-4 on probabilities)', async () => {
      const templates = ['a photo of {}.', '{}', 'a blurry picture of the {}!'];
      const names = ['cat', 'dog', 'white bicycle'];
      const raw = await model.encodeTexts(
        names.flatMap((n) => templates.map((t) => fillTemplate(t, n))),
        { mode: 'short', normalize: false },
      );
      const W = names.map((_, c) => meanUnit(raw.embeddings.slice(c * templates.length, (c + 1) * templates.length)));
      const img = (await model.encodeImages([files[1]], { normalize: false }))[0].embedding;
      const p = softmax64(W.map((w) => scale * dot64(unit(img), w)));
      const out = await classifyImages(model, [files[1]], names, { templates, cache: false });
      const by = new Map(out.results[0].labels.map((l) => [l.label, l.probability]));
      assert.ok(
        maxAbsDiff(
          names.map((n) => by.get(n) ?? NaN),
          p,
        ) <= TOL,
      );
    });

    test('classify with the 80 imagenet templates equals the ensemble of the 80 filled prompts (max abs 1e-4)', async () => {
      const names = ['cat', 'dog'];
      const W: number[][] = [];
      for (const n of names)
        W.push(
          meanUnit(
            (
              await model.encodeTexts(
                IMAGENET_TEMPLATES.map((t) => fillTemplate(t, n)),
                { mode: 'short' },
              )
            ).embeddings,
          ),
        );
      const img = (await model.encodeImages([files[0]]))[0].embedding;
      const p = softmax64(W.map((w) => scale * dot64(img, w)));
      const out = await classifyImages(model, [files[0]], names, { templates: 'imagenet', cache: false });
      const by = new Map(out.results[0].labels.map((l) => [l.label, l.probability]));
      assert.ok(
        maxAbsDiff(
          names.map((n) => by.get(n) ?? NaN),
          p,
        ) <= TOL,
      );
    });

    test(`heatmap: grid[t] = normalize(dense)·normalize(text_short feature), rel L2 ≤ ${TOL} (JPEG ${JPEG_TOL})`, async () => {
      const texts = [labels[2], labels[0]]; // "white cat", "a photo of a cat"
      const refs = [textRef[2], textRef[0]];
      for (const c of cases) {
        const h = await heatmap(model, goldenPath(c.image), texts);
        const g = Math.round(Math.sqrt(c.dense_features.length));
        assert.deepEqual(h.grid, [g, g]);
        assert.deepEqual(h.texts, texts);
        refs.forEach((t, k) => {
          const want = c.dense_features.map((d) => dot64(unit(d), t));
          const e = relL2(h.similarity[k], want);
          assert.ok(e <= tolFor(c.image), `${c.image} text ${k}: rel L2 ${e}`);
        });
      }
    });

    test(`regions with labels: p = softmax(100·cos(normalize(region), normalize(text))) within ${TOL} (JPEG ${JPEG_TOL})`, async () => {
      for (const c of cases) {
        const boxes = c.boxes_pixels_xyxy.map((b) => [b[0], b[1], b[2], b[3]] as const);
        const got = await classifyRegions(model, goldenPath(c.image), boxes, labels.slice(0, 4));
        got.forEach((r, b) => {
          const p = softmax64(textRef.slice(0, 4).map((t) => FGOVD_SCALE * dot64(unit(c.region_features[b]), t)));
          const by = new Map(r.labels.map((l) => [l.label, l.probability]));
          assert.ok(
            maxAbsDiff(
              labels.slice(0, 4).map((l) => by.get(l) ?? NaN),
              p,
            ) <= tolFor(c.image),
            `${c.image} box ${b}`,
          );
        });
      }
    });
  });
}
