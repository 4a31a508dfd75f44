/**
 * RoIAlign inside the vision graph (`regions: true`, src/graph/clip-vision.ts): ONNX RoiAlign (avg, 1×1, half-pixel,
 * adaptive sampling) over the dense map gives the reference's region features (goldens, rel L2 1e-4) and what
 * src/postprocess/roi-align.ts computes outside the graph (rel L2 1e-5), in inference and train mode.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../config/load.js';
import { roiAlign1x1, type GridBox } from '../../postprocess/roi-align.js';
import { createSession, ort } from '../../runtime/session.js';
import { goldenPath, readGoldenJson, relL2 } from '../../test-util/goldens.js';
import { readCheckpoint } from '../../weights/checkpoint.js';
import { WeightReader } from '../../weights/reader.js';
import { buildVisionGraph, DENSE_EMBEDS, REGION_BATCH_INDEX, REGION_BOXES, REGION_EMBEDS, VISION_INPUT } from './vision-graph.js';

interface Cases {
  image: { pixel_values: number[][][][] };
  roi: { boxes_grid_xyxy: number[][][]; features: number[][] };
}

for (const model of ['fgclip-tiny', 'fgclip-small'] as const) {
  for (const mode of ['inference', 'train'] as const) {
    test(`${model}, ${mode} graph: region_embeds equal the reference's region features and the RoIAlign outside the graph`, async () => {
      const C = readGoldenJson<Cases>(`${model}.cases.json`);
      const config = await loadConfig(goldenPath(model));
      const { tensors, where } = await readCheckpoint(goldenPath(model));
      const s = await createSession('vision regions', buildVisionGraph(config, new WeightReader(tensors, where), { mode, regions: true }), { threads: 1 });
      try {
        const S = config.vision_config.image_size;
        const g = S / config.vision_config.patch_size;
        const P = config.projection_dim;
        const B = C.image.pixel_values.length;
        const boxes = C.roi.boxes_grid_xyxy.flatMap((list) => list);
        const index = C.roi.boxes_grid_xyxy.flatMap((list, b) => list.map(() => BigInt(b)));
        const out = await s.run({
          [VISION_INPUT]: new ort.Tensor('float32', Float32Array.from(C.image.pixel_values.flat(3)), [B, 3, S, S]),
          [REGION_BOXES]: new ort.Tensor('float32', Float32Array.from(boxes.flat()), [boxes.length, 4]),
          [REGION_BATCH_INDEX]: new ort.Tensor('int64', BigInt64Array.from(index), [boxes.length]),
        });
        const got = out[REGION_EMBEDS].data as Float32Array;
        assert.deepEqual(out[REGION_EMBEDS].dims, [boxes.length, P]);
        assert.equal(C.roi.features.length, boxes.length);
        C.roi.features.forEach((f, k) =>
          assert.ok(relL2(got.subarray(k * P, (k + 1) * P), f) <= 1e-4, `region ${k}: ${relL2(got.subarray(k * P, (k + 1) * P), f)}`),
        );
        const dense = out[DENSE_EMBEDS].data as Float32Array;
        let k = 0;
        C.roi.boxes_grid_xyxy.forEach((list, b) => {
          const outside = roiAlign1x1(dense.slice(b * g * g * P, (b + 1) * g * g * P), g, g, P, list as unknown as GridBox[]);
          for (const r of outside) {
            assert.ok(relL2(got.subarray(k * P, (k + 1) * P), r) <= 1e-5, `region ${k} vs roiAlign1x1: ${relL2(got.subarray(k * P, (k + 1) * P), r)}`);
            k++;
          }
        });
      } finally {
        await s.release();
      }
    });
  }
}

test('regions need the dense map computed on every pass (dense: true)', async () => {
  const config = await loadConfig(goldenPath('fgclip-tiny'));
  const { tensors, where } = await readCheckpoint(goldenPath('fgclip-tiny'));
  for (const dense of [false, 'on-request'] as const)
    assert.throws(() => buildVisionGraph(config, new WeightReader(tensors, where), { regions: true, dense }), /regions need dense: true/);
});
