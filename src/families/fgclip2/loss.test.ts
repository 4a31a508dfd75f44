/**
 * FG-CLIP 2 stage-2 loss (forward) vs the reference's loss files (goldens-v2 fgclip2-{tiny,small}.loss.json): the
 * loss, each part and threshold_computed within relative 1e-4; the training-only scales read from the checkpoint.
 * (Gradients are not computed by this module.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';
import { fgclip2StageTwoLoss, readTrainingScales } from './loss.js';
import type { Fgclip2Model } from './model.js';
import { loadFgclip2Model } from '../../test-util/fgclip2.js';

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
      model = await loadFgclip2Model(goldenV2Path(name), { threads: 1 });
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
      for (const [k, v] of Object.entries(g.parts))
        assert.ok(rel(r.parts[k as keyof typeof r.parts], v) <= 1e-4, `${k}: ${r.parts[k as keyof typeof r.parts]} vs ${v}`);
      assert.ok(rel(r.loss, g.loss) <= 1e-4, `loss ${r.loss} vs ${g.loss}`);
      assert.ok(rel(r.thresholdComputed, g.threshold_computed) <= 1e-4, `threshold ${r.thresholdComputed} vs ${g.threshold_computed}`);
      assert.ok(Math.abs(r.thresholdOut - g.threshold_out) <= 1e-4);
    });
  });
}

describe('FG-CLIP 2 loss batch: bad input is INPUT_INVALID naming the field', () => {
  it('missing or mistyped fields, and mismatched counts', async () => {
    const { fgclip2BatchFromReferenceJson } = await import('./loss.js');
    const { isFgClipError } = await import('../../errors.js');
    const bad = (x: unknown, re: RegExp) =>
      assert.throws(
        () => fgclip2BatchFromReferenceJson(x),
        (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID' && re.test(e.message),
      );
    bad(null, /JSON object/);
    bad({ pixel_values: 'x' }, /pixel_values/);
    const g = readGoldenV2Json<LossFile>('fgclip2-tiny.loss.json');
    bad({ ...g.inputs, box_nums: ['a'] }, /box_nums/);
    const model = await loadFgclip2Model(goldenV2Path('fgclip2-tiny'), { threads: 1 });
    try {
      const { batch } = fgclip2BatchFromReferenceJson({ ...g.inputs, text_short: g.inputs.text_short.slice(1) });
      await assert.rejects(
        fgclip2StageTwoLoss(model, batch, { logitScale: 1, logitBias: 0, logitScaleFinegraind: 1, logitScaleHardneg: 1, threshold: 0.5 }),
        (e: unknown) => isFgClipError(e) && /text_short has 3 entries for 4 images/.test(e.message),
      );
      const r = fgclip2BatchFromReferenceJson({ ...g.inputs, box_nums: [9, 0, 0, 0] });
      await assert.rejects(
        fgclip2StageTwoLoss(model, r.batch, { logitScale: 1, logitBias: 0, logitScaleFinegraind: 1, logitScaleHardneg: 1, threshold: 0.5 }),
        (e: unknown) => isFgClipError(e) && /box_infos count 0 is 9/.test(e.message),
      );
    } finally {
      await model.dispose();
    }
  });
});
