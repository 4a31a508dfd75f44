/**
 * FG-CLIP 2 stage-2 loss (forward) vs the reference's loss files (goldens-v2 fgclip2-{tiny,small}.loss.json): the
 * loss, each part and threshold_computed within relative 1e-4; the training-only scales read from the checkpoint.
 * (Gradients are not computed by this module.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';
import { fgclip2StageTwoLoss, readTrainingScales } from './loss.js';
import { Fgclip2Model } from './model.js';

interface LossFile {
  logit_scale: number;
  logit_bias: number;
  logit_scale_finegraind: number;
  logit_scale_hardneg: number;
  threshold_in: number;
  threshold_computed: number;
  threshold_out: number;
  parts: Record<string, number>;
  loss: number;
  inputs: {
    pixel_values: number[][][];
    pixel_attention_mask: number[][];
    spatial_shapes: [number, number][];
    text_short: number[][];
    text_long: number[][];
    box_infos_normalized_xyxy: number[][];
    box_texts: number[][];
    box_nums: number[];
    hard_infos_normalized_xyxy: number[][];
    hard_texts: number[][];
    hard_nums: number[];
  };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

for (const name of ['fgclip2-tiny', 'fgclip2-small']) {
  describe(`${name}: stage-2 loss (forward) vs the float64 reference`, () => {
    const g = readGoldenV2Json<LossFile>(`${name}.loss.json`);
    let model: Fgclip2Model;
    before(async () => {
      model = await Fgclip2Model.load(goldenV2Path(name), { threads: 1 });
    });
    after(async () => model?.dispose());

    it('the training-only scales come from the checkpoint', async () => {
      const s = await readTrainingScales(goldenV2Path(name, 'model.safetensors'));
      assert.deepEqual(s.carried, []);
      assert.equal(s.logitScaleFinegraind, Math.fround(g.logit_scale_finegraind));
      assert.equal(s.logitScaleHardneg, Math.fround(g.logit_scale_hardneg));
    });

    it('loss, every part and threshold_computed within relative 1e-4', async () => {
      const i = g.inputs;
      const s = await readTrainingScales(goldenV2Path(name, 'model.safetensors'));
      const r = await fgclip2StageTwoLoss(
        model,
        {
          pixelValues: i.pixel_values.map((rows) => Float32Array.from(rows.flat())),
          pixelAttentionMask: i.pixel_attention_mask,
          spatialShapes: i.spatial_shapes,
          textShort: i.text_short,
          textLong: i.text_long,
          boxInfos: i.box_infos_normalized_xyxy,
          boxTexts: i.box_texts,
          boxNums: i.box_nums,
          hardInfos: i.hard_infos_normalized_xyxy,
          hardTexts: i.hard_texts,
          hardNums: i.hard_nums,
        },
        { logitScale: model.logitScale, logitBias: model.logitBias, ...s, threshold: g.threshold_in },
      );
      for (const [k, v] of Object.entries(g.parts)) assert.ok(rel(r.parts[k as keyof typeof r.parts], v) <= 1e-4, `${k}: ${r.parts[k as keyof typeof r.parts]} vs ${v}`);
      assert.ok(rel(r.loss, g.loss) <= 1e-4, `loss ${r.loss} vs ${g.loss}`);
      assert.ok(rel(r.thresholdComputed, g.threshold_computed) <= 1e-4, `threshold ${r.thresholdComputed} vs ${g.threshold_computed}`);
      assert.ok(Math.abs(r.thresholdOut - g.threshold_out) <= 1e-4);
    });
  });
}
