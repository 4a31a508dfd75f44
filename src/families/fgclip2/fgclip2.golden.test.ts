/**
 * FG-CLIP 2 forward pass vs the reference (goldens-v2, float64 PyTorch) on both checkpoints (tiny F32, small BF16),
 * at the README's tolerances: features, dense rows (< h·w) and region features relative L2 ≤ 1e-4 per vector
 * (zero-area box: abs ≤ 1e-6), logits abs ≤ 1e-4·max(1, |logit|), probabilities abs ≤ 1e-4, the SigLIP loss of
 * Fgclip2Model.forward relative 1e-4.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { NaflexImage } from '../../preprocess/naflex.js';
import { relL2 } from '../../test-util/goldens.js';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';
import type { Fgclip2Model, ImageResult, Walk } from './model.js';
import { loadFgclip2Model } from '../../test-util/fgclip2.js';

type Vec = number[];
interface TextCase {
  lowered: string[];
  input_ids: number[][];
  features: Vec[];
  features_with_attention_mask: Vec[];
}
interface RegionCase {
  image_sizes_hw: [number, number][];
  boxes_xyxy_pixels: [number, number, number, number][][];
  features: Vec[][];
}
interface Cases {
  logit_scale: number;
  logit_bias: number;
  text_short: TextCase;
  text_box: TextCase;
  text_long: TextCase;
  image_random: {
    pixel_values_f32: { file: string; shape: number[] };
    pixel_attention_mask: number[][];
    spatial_shapes: [number, number][];
    features: Vec[];
    dense_features: Vec[][];
    region: RegionCase;
  };
  image_processed: {
    images: string[];
    spatial_shapes: [number, number][];
    pixel_attention_mask: number[][];
    features: Vec[];
    dense_features: Vec[][];
    region: RegionCase;
  };
  probs: { short: { logits_per_image: Vec[]; probs: Vec[] }; long: { text_long_rows: number[]; logits_per_image: Vec[]; probs: Vec[] } };
  model_forward: { n: number; logits_per_image: Vec[]; loss: number };
  end_to_end: {
    cases: {
      image: string;
      spatial_shapes: [number, number];
      image_features: Vec;
      dense_features_valid: Vec[];
      image_size_hw: [number, number];
      boxes_xyxy_pixels: [number, number, number, number][];
      region_features: Vec[];
      card_long_logits: Vec;
      card_long_probs: Vec;
    }[];
  };
}

const TOL = 1e-4;

function vecClose(got: ArrayLike<number>, want: Vec, what: string): void {
  const n = Math.sqrt(want.reduce((s, x) => s + x * x, 0));
  if (n === 0) {
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]) <= 1e-6, `${what}: zero vector expected, got ${got[i]} at ${i}`);
    return;
  }
  const e = relL2(got, want);
  assert.ok(e <= TOL, `${what}: relative L2 ${e}`);
}

function logitsClose(got: number[][], want: Vec[], what: string, probs = false): void {
  want.forEach((row, i) =>
    row.forEach((v, j) => {
      const tol = probs ? TOL : TOL * Math.max(1, Math.abs(v));
      assert.ok(Math.abs(got[i][j] - v) <= tol, `${what}[${i}][${j}]: ${got[i][j]} vs ${v}`);
    }),
  );
}

for (const name of ['fgclip2-tiny', 'fgclip2-small']) {
  describe(`${name}: FG-CLIP 2 forward vs the float64 reference`, () => {
    const cases = readGoldenV2Json<Cases>(`${name}.cases.json`);
    let model: Fgclip2Model;
    before(async () => {
      model = await loadFgclip2Model(goldenV2Path(name), { threads: 1 });
    });
    after(async () => model?.dispose());

    it('logit_scale / logit_bias as stored; no unknown tensors', () => {
      assert.equal(model.logitScale, Math.fround(cases.logit_scale));
      assert.equal(model.logitBias, cases.logit_bias);
      assert.deepEqual(model.unknownTensors, []);
    });

    for (const walk of ['short', 'box', 'long'] as Walk[]) {
      it(`text ${walk}: token ids identical; features without and with the attention mask ≤ 1e-4`, async () => {
        const c = cases[`text_${walk}`];
        const L = model.textLength(walk);
        c.lowered.forEach((t, i) => assert.deepEqual(model.tokenizer.encode(t, { maxLength: L }).ids, c.input_ids[i], t));
        const plain = await model.encodeTexts(c.lowered, { walk, attentionMask: false });
        plain.forEach((f, i) => vecClose(f, c.features[i], `${walk}[${i}]`));
        const masked = await model.encodeTexts(c.lowered, { walk, attentionMask: true });
        masked.forEach((f, i) => vecClose(f, c.features_with_attention_mask[i], `${walk}+mask[${i}]`));
      });
    }

    function checkImages(res: ImageResult[], features: Vec[], dense: Vec[][], region: RegionCase, what: string): void {
      res.forEach((r, b) => {
        vecClose(r.embedding, features[b], `${what} image ${b}`);
        const [h, w] = r.grid;
        const D = model.embeddingDim;
        for (let k = 0; k < h * w; k++) vecClose(r.dense?.subarray(k * D, (k + 1) * D) ?? [], dense[b][k], `${what} image ${b} dense row ${k}`);
        const regions = model.regionFeatures({ ...r, imageSizeHw: region.image_sizes_hw[b] }, region.boxes_xyxy_pixels[b]);
        regions.forEach((f, k) => vecClose(f, region.features[b][k], `${what} image ${b} box ${k}`));
      });
    }

    it('random pixel batch with per-image spatial shapes and padding: image, dense, region features', async () => {
      const r = cases.image_random;
      const [B, N, row] = r.pixel_values_f32.shape;
      const buf = readFileSync(goldenV2Path(r.pixel_values_f32.file));
      const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      const items: NaflexImage[] = Array.from({ length: B }, (_, b) => ({
        pixelValues: all.slice(b * N * row, (b + 1) * N * row),
        mask: Uint8Array.from(r.pixel_attention_mask[b]),
        spatialShape: r.spatial_shapes[b],
        maxNumPatches: N,
        patchSize: Math.round(Math.sqrt(row / 3)),
        imageSizeHw: r.region.image_sizes_hw[b],
        resized: { width: 0, height: 0, data: new Uint8Array() },
      }));
      checkImages(await model.encodePreprocessed(items, true), r.features, r.dense_features, r.region, 'random');
    });

    it('golden images through the processor config: spatial shapes, masks, image, dense, region features', async () => {
      const p = cases.image_processed;
      const res = await model.encodeImages(
        p.images.map((f) => goldenV2Path(f)),
        { maxNumPatches: 'processor', dense: true },
      );
      res.forEach((r, b) => assert.deepEqual(r.grid, p.spatial_shapes[b]));
      checkImages(res, p.features, p.dense_features, p.region, 'processed');

      const probs = cases.probs;
      const shortT = await model.encodeTexts(cases.text_short.lowered, { walk: 'short', attentionMask: false });
      const s = model.scores(
        res.map((r) => r.embedding),
        shortT,
      );
      logitsClose(s.logits, probs.short.logits_per_image, 'short logits');
      logitsClose(s.probs, probs.short.probs, 'short probs', true);
      const longT = await model.encodeTexts(
        probs.long.text_long_rows.map((i) => cases.text_long.lowered[i]),
        { walk: 'long', attentionMask: false },
      );
      const l = model.scores(
        res.map((r) => r.embedding),
        longT,
      );
      logitsClose(l.logits, probs.long.logits_per_image, 'long logits');
      logitsClose(l.probs, probs.long.probs, 'long probs', true);

      // Fgclip2Model.forward(return_loss=True): the SigLIP loss of the first n images and short texts
      const n = cases.model_forward.n;
      const f = model.scores(
        res.slice(0, n).map((r) => r.embedding),
        shortT.slice(0, n),
      );
      logitsClose(f.logits, cases.model_forward.logits_per_image, 'forward logits');
      let loss = 0;
      for (let t = 0; t < n; t++) for (let i = 0; i < n; i++) loss += Math.log1p(Math.exp(-(t === i ? 1 : -1) * f.logits[i][t]));
      loss /= n;
      assert.ok(Math.abs(loss - cases.model_forward.loss) <= TOL * Math.abs(cases.model_forward.loss), `loss ${loss} vs ${cases.model_forward.loss}`);
    });

    it("the model card's end-to-end flow per image (determine_max_value budget, long captions)", async () => {
      const longT = await model.encodeTexts(
        cases.probs.long.text_long_rows.map((i) => cases.text_long.lowered[i]),
        { walk: 'long', attentionMask: false },
      );
      for (const c of cases.end_to_end.cases) {
        const [r] = await model.encodeImages([goldenV2Path(c.image)], { dense: true });
        assert.deepEqual(r.grid, c.spatial_shapes, c.image);
        assert.deepEqual(r.imageSizeHw, c.image_size_hw, c.image);
        vecClose(r.embedding, c.image_features, `${c.image} features`);
        const D = model.embeddingDim;
        c.dense_features_valid.forEach((want, k) => vecClose(r.dense?.subarray(k * D, (k + 1) * D) ?? [], want, `${c.image} dense ${k}`));
        model.regionFeatures(r, c.boxes_xyxy_pixels).forEach((f, k) => vecClose(f, c.region_features[k], `${c.image} box ${k}`));
        const s = model.scores([r.embedding], longT);
        logitsClose(s.logits, [c.card_long_logits], `${c.image} card logits`);
        logitsClose(s.probs, [c.card_long_probs], `${c.image} card probs`, true);
      }
    });
  });
}
