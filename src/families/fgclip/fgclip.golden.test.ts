/**
 * The whole model against the reference's float64 outputs (../shared/goldens), for both checkpoints
 * (fgclip-tiny: F32, gelu; fgclip-small: F16, quick_gelu). Tolerances from goldens/README.md:
 * features rel L2 ≤ 1e-4; probabilities max abs ≤ 1e-4. End-to-end cases from JPEG files allow 2e-3, because
 * JPEG decoding may differ from Pillow's by one level on a few pixels (README: "at most 1 level off").
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { goldenPath, maxAbsDiff, readGoldenJson, relL2 } from '../../test-util/goldens.js';
import { FgClip } from '../../model/handle.js';
import type { GridBox } from '../../postprocess/roi-align.js';

interface Cases {
  logit_scale: number;
  image_size: number;
  grid: number;
  text_short: { texts: string[]; input_ids: number[][]; features: number[][] };
  text_long: { texts: string[]; input_ids: number[][]; features: number[][] };
  image: { pixel_values: number[][][][]; features: number[][] };
  dense: { features: number[][][] };
  roi: { boxes_grid_xyxy: number[][][]; features: number[][] };
  probs: { texts: string[]; logits_per_image: number[][]; probs: number[][] };
  image_interpolated: { pixel_values: number[][][][]; image_size: number; features: number[][] };
  end_to_end: { cases: { image: string; image_features: number[]; dense_features: number[][]; boxes_pixels_xyxy: number[][]; region_features: number[][] }[] };
}

const FEATURE_TOL = 1e-4;
const JPEG_TOL = 2e-3;

function assertClose(got: ArrayLike<number>, want: readonly number[], tol: number, what: string): void {
  const e = relL2(got, want);
  assert.ok(e <= tol, `${what}: relative L2 error ${e.toExponential(2)} > ${tol}`);
}

for (const size of ['tiny', 'small'] as const) {
  describe(`fgclip-${size} against the reference`, () => {
    const cases = readGoldenJson<Cases>(`fgclip-${size}.cases.json`);
    let model: FgClip;
    before(async () => {
      model = await FgClip.load(goldenPath(`fgclip-${size}`), { threads: 2 });
    });
    after(() => model.dispose());

    test(`short text features (77-row table, text_projection) within rel L2 ${FEATURE_TOL}`, async () => {
      const got = await model.getTextFeatures(cases.text_short.input_ids, { walkShortPos: true });
      cases.text_short.features.forEach((f, i) => assertClose(got[i], f, FEATURE_TOL, `text_short[${i}]`));
    });

    test(`long text features (248 positions, ori/res tables, text_filip_projection) within rel L2 ${FEATURE_TOL}`, async () => {
      const got = await model.getTextFeatures(cases.text_long.input_ids, { walkShortPos: false });
      cases.text_long.features.forEach((f, i) => assertClose(got[i], f, FEATURE_TOL, `text_long[${i}]`));
    });

    test('encodeTexts from raw strings (tokenizer + towers) equals the reference features', async () => {
      const s = await model.encodeTexts(cases.text_short.texts, { mode: 'short', normalize: false });
      cases.text_short.features.forEach((f, i) => assertClose(s.embeddings[i], f, FEATURE_TOL, `encodeTexts short[${i}]`));
      const l = await model.encodeTexts(cases.text_long.texts, { mode: 'long', normalize: false });
      cases.text_long.features.forEach((f, i) => assertClose(l.embeddings[i], f, FEATURE_TOL, `encodeTexts long[${i}]`));
    });

    const pixels = (pv: number[][][][]) => new Float32Array(pv.flat(3));

    test(`image, dense and region features from one vision pass within rel L2 ${FEATURE_TOL}`, async () => {
      const px = pixels(cases.image.pixel_values);
      const { image, dense } = await model.runVision(px);
      cases.image.features.forEach((f, i) => assertClose(image[i], f, FEATURE_TOL, `image[${i}]`));
      cases.dense.features.forEach((f, i) => assertClose(flat(dense[i]), f.flat(), FEATURE_TOL, `dense[${i}]`));
      const roi = await model.getImageBoxRoiFeatures(px, cases.roi.boxes_grid_xyxy as unknown as GridBox[][]);
      assert.equal(roi.length, cases.roi.features.length);
      cases.roi.features.forEach((f, i) => assertClose(roi[i], f, FEATURE_TOL, `roi[${i}]`));
    });

    test('logit scale and the model card probabilities within 1e-4', async () => {
      assert.ok(Math.abs(model.logitScaleLog - cases.logit_scale) < 1e-6);
      const imgs = await model.getImageFeatures(pixels(cases.image.pixel_values));
      const txt = await model.encodeTexts(cases.probs.texts, { mode: 'short', normalize: false });
      imgs.forEach((im, i) => {
        const p = model.probabilities(im, txt.embeddings);
        assert.ok(maxAbsDiff(p, cases.probs.probs[i]) <= 1e-4, `probs[${i}]: ${p} vs ${cases.probs.probs[i]}`);
      });
    });

    test(`interpolated position embeddings (PyTorch bicubic) at ${cases.image_interpolated.image_size}px within rel L2 ${FEATURE_TOL}`, async () => {
      const m = await FgClip.load(goldenPath(`fgclip-${size}`), { threads: 2, imageSize: cases.image_interpolated.image_size });
      try {
        const got = await m.getImageFeatures(pixels(cases.image_interpolated.pixel_values));
        cases.image_interpolated.features.forEach((f, i) => assertClose(got[i], f, FEATURE_TOL, `image_interpolated[${i}]`));
      } finally {
        m.dispose();
      }
    });

    for (const c of cases.end_to_end.cases) {
      const tol = c.image.endsWith('.jpg') ? JPEG_TOL : FEATURE_TOL;
      test(`end to end ${c.image}: file → image, dense and region features (pixel boxes) within rel L2 ${tol}`, async () => {
        const boxes = c.boxes_pixels_xyxy.map((b) => b as unknown as readonly [number, number, number, number]);
        const [r] = await model.encodeImages([goldenPath(c.image)], { normalize: false, dense: true, boxes: [boxes] });
        assertClose(r.embedding, c.image_features, tol, 'image');
        assertClose(flat(r.dense ?? []), c.dense_features.flat(), tol, 'dense');
        c.region_features.forEach((f, i) => assertClose(r.regions?.[i] ?? [], f, tol, `region[${i}]`));
      });
    }
  });
}

function flat(vs: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(vs.reduce((n, v) => n + v.length, 0));
  let o = 0;
  for (const v of vs) {
    out.set(v, o);
    o += v.length;
  }
  return out;
}
