/**
 * The global-only vision pass: calls that need no dense map (embed, classify, search: `encodeImages` without `dense`
 * or `boxes`, `getImageFeatures`) run the vision graph with its dense branch switched off (`with_dense` = false,
 * graph/clip-vision.ts), on the same session. Compared here, for fgclip-tiny (F32, gelu) and fgclip-small (F16,
 * quick_gelu): global embeddings of the global-only pass equal the full pass's within max abs 1e-6 (measured: 0,
 * the ops are the same), and calls that ask for dense maps or regions still get them, equal to the reference's
 * (rel L2 ≤ 1e-4, goldens/README.md). A spy on the family's towers shows which pass each call asked for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildVisionGraph, DENSE_EMBEDS, IMAGE_EMBEDS, VISION_INPUT } from '../families/fgclip/vision-graph.js';
import type { FamilyModel, VisionRunOptions } from '../families/types.js';
import { loadConfig } from '../config/index.js';
import { WITH_DENSE } from '../graph/clip-vision.js';
import type { GridBox } from '../postprocess/roi-align.js';
import { createSession, ort } from '../runtime/session.js';
import { goldenPath, maxAbsDiff, readGoldenJson, relL2 } from '../test-util/goldens.js';
import { readCheckpoint } from '../weights/checkpoint.js';
import { WeightReader } from '../weights/reader.js';
import { FgClip } from './handle.js';

interface Cases {
  image: { pixel_values: number[][][][]; features: number[][] };
  dense: { features: number[][][] };
  roi: { boxes_grid_xyxy: number[][][]; features: number[][] };
  end_to_end: { cases: { image: string; image_features: number[]; boxes_pixels_xyxy: number[][]; region_features: number[][] }[] };
}

const SAME_TOL = 1e-6;
const GOLDEN_TOL = 1e-4;
const JPEG_TOL = 2e-3;

/** The loaded model's towers behind a spy recording the `dense` each vision pass asked for. */
function spied(m: FgClip): { model: FgClip; asked: boolean[] } {
  const towers = (m as unknown as { towers: FamilyModel }).towers;
  const asked: boolean[] = [];
  const spy: FamilyModel = Object.create(towers, {
    runVision: {
      value: (px: Float32Array, b: number, opts?: VisionRunOptions) => {
        asked.push(opts?.dense ?? true);
        return towers.runVision(px, b, opts);
      },
    },
  });
  return { model: new FgClip({ modelDir: m.modelDir, family: m.family, towers: spy, options: { threads: 1, preprocessWorkers: 0 } }), asked };
}

for (const size of ['tiny', 'small'] as const) {
  describe(`global-only vision pass, fgclip-${size}`, () => {
    const C = readGoldenJson<Cases>(`fgclip-${size}.cases.json`);
    const root = mkdtempSync(join(tmpdir(), 'fgclip-global-only-'));
    const px = Float32Array.from(C.image.pixel_values.flat(3));
    let m: FgClip;
    before(async () => {
      m = await FgClip.load(goldenPath(`fgclip-${size}`), { threads: 1, graphCache: join(root, 'cache'), preprocessWorkers: 0 });
    });
    after(() => {
      m?.dispose();
      rmSync(root, { recursive: true, force: true });
    });

    test(`runVision({ dense: false }) gives the full pass's image embeddings (max abs ${SAME_TOL}) and no dense map`, async () => {
      const full = await m.runVision(px);
      const global = await m.runVision(px, { dense: false });
      assert.equal(global.image.length, full.image.length);
      global.image.forEach((v, i) => assert.ok(maxAbsDiff(v, full.image[i]) <= SAME_TOL, `image ${i}: ${maxAbsDiff(v, full.image[i])}`));
      assert.deepEqual(
        global.dense.map((d) => d.length),
        full.image.map(() => 0),
      );
      assert.equal(full.dense[0].length, C.dense.features[0].length);
    });

    test(`getImageFeatures runs the global-only pass and still equals the goldens (rel L2 ${GOLDEN_TOL})`, async () => {
      const { model, asked } = spied(m);
      const got = await model.getImageFeatures(px);
      assert.deepEqual(asked, [false]);
      C.image.features.forEach((f, i) => assert.ok(relL2(got[i], f) <= GOLDEN_TOL, `image ${i}: ${relL2(got[i], f)}`));
    });

    test(`encodeImages: embed-only calls skip the dense branch, dense/regions calls run it; embeddings agree (max abs ${SAME_TOL}), regions match the goldens (rel L2 ${JPEG_TOL})`, async () => {
      const { model, asked } = spied(m);
      const cases = C.end_to_end.cases;
      const files = cases.map((c) => goldenPath(c.image));
      const plain = await model.encodeImages(files, { normalize: false });
      assert.ok(asked.length > 0 && asked.every((d) => d === false), `embed-only passes asked for dense: ${asked.join(',')}`);
      asked.length = 0;
      const boxes = cases.map((c) => c.boxes_pixels_xyxy.map((b) => b as unknown as readonly [number, number, number, number]));
      const rich = await model.encodeImages(files, { normalize: false, dense: true, boxes });
      assert.ok(asked.length > 0 && asked.every((d) => d === true), `dense/region passes: ${asked.join(',')}`);
      asked.length = 0;
      const regionsOnly = await model.encodeImages(files, { normalize: false, boxes });
      assert.ok(
        asked.every((d) => d === true),
        'boxes alone need the dense map',
      );
      cases.forEach((c, i) => {
        assert.equal(plain[i].dense, undefined);
        assert.ok(maxAbsDiff(plain[i].embedding, rich[i].embedding) <= SAME_TOL, `image ${i}: ${maxAbsDiff(plain[i].embedding, rich[i].embedding)}`);
        assert.ok(relL2(plain[i].embedding, c.image_features) <= JPEG_TOL, `image ${i} vs golden`);
        assert.equal(rich[i].dense?.length, C.dense.features[0].length);
        c.region_features.forEach((f, k) => {
          assert.ok(relL2(rich[i].regions?.[k] ?? [], f) <= JPEG_TOL, `region ${i}.${k}`);
          assert.ok(maxAbsDiff(regionsOnly[i].regions?.[k] ?? [], rich[i].regions?.[k] ?? []) <= SAME_TOL, `region ${i}.${k} without dense`);
        });
      });
    });

    test(`getImageBoxRoiFeatures and getImageDenseFeatures still run the dense branch (goldens, rel L2 ${GOLDEN_TOL})`, async () => {
      const { model, asked } = spied(m);
      const dense = await model.getImageDenseFeatures(px);
      C.dense.features.forEach((d, i) => assert.ok(relL2(Float32Array.from(dense[i].flatMap((v) => [...v])), d.flat()) <= GOLDEN_TOL, `dense ${i}`));
      const roi = await model.getImageBoxRoiFeatures(px, C.roi.boxes_grid_xyxy as unknown as GridBox[][]);
      C.roi.features.forEach((f, i) => assert.ok(relL2(roi[i], f) <= GOLDEN_TOL, `roi ${i}`));
      assert.deepEqual(asked, [true, true]);
    });
  });
}

describe("vision graph built with dense: 'on-request'", () => {
  test(`one graph, two passes: with_dense false gives an empty [0, N, P] dense_embeds and the dense: true graph's image_embeds (max abs ${SAME_TOL}); true gives both`, async () => {
    const dir = goldenPath('fgclip-tiny');
    const config = await loadConfig(dir);
    const { tensors } = await readCheckpoint(dir);
    const onRequest = await createSession('v', buildVisionGraph(config, new WeightReader(tensors, 'tiny'), { dense: 'on-request' }), { threads: 1 });
    const always = await createSession('v', buildVisionGraph(config, new WeightReader(tensors, 'tiny')), { threads: 1 });
    try {
      assert.ok(onRequest.inputNames.includes(WITH_DENSE));
      assert.ok(!always.inputNames.includes(WITH_DENSE));
      const C = readGoldenJson<Cases>('fgclip-tiny.cases.json');
      const S = config.vision_config.image_size;
      const B = C.image.pixel_values.length;
      const pixels = new ort.Tensor('float32', Float32Array.from(C.image.pixel_values.flat(3)), [B, 3, S, S]);
      const ref = await always.run({ [VISION_INPUT]: pixels });
      const off = await onRequest.run({ [VISION_INPUT]: pixels, [WITH_DENSE]: new ort.Tensor('bool', [false], []) });
      const on = await onRequest.run({ [VISION_INPUT]: pixels, [WITH_DENSE]: new ort.Tensor('bool', [true], []) });
      const g = S / config.vision_config.patch_size;
      assert.deepEqual(off[DENSE_EMBEDS].dims, [0, g * g, config.projection_dim]);
      assert.deepEqual(on[DENSE_EMBEDS].dims, ref[DENSE_EMBEDS].dims);
      assert.ok(maxAbsDiff(off[IMAGE_EMBEDS].data as Float32Array, ref[IMAGE_EMBEDS].data as Float32Array) <= SAME_TOL);
      assert.ok(maxAbsDiff(on[IMAGE_EMBEDS].data as Float32Array, ref[IMAGE_EMBEDS].data as Float32Array) <= SAME_TOL);
      assert.ok(maxAbsDiff(on[DENSE_EMBEDS].data as Float32Array, ref[DENSE_EMBEDS].data as Float32Array) <= SAME_TOL);
    } finally {
      await onRequest.release();
      await always.release();
    }
  });

  test('intermediates cannot come out of the If branch: a build error says to use dense: true', async () => {
    const dir = goldenPath('fgclip-tiny');
    const config = await loadConfig(dir);
    const { tensors } = await readCheckpoint(dir);
    assert.throws(
      () => buildVisionGraph(config, new WeightReader(tensors, 'tiny'), { dense: 'on-request', intermediates: true }),
      /intermediates need dense: true/,
    );
  });
});
