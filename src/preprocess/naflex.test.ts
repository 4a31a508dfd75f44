/**
 * NaFlex preprocessing vs the FG-CLIP 2 reference (goldens-v2 preprocess_cases.json): decode identical (PNG) / within
 * one level on a few pixels (JPEG), budget, size search, spatial shapes, masks and resized uint8 bytes identical,
 * pixel_values within 1e-6; position-grid resize within relative L2 1e-4 of PyTorch's antialiased bilinear.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFgClipError } from '../errors.js';
import { relL2 } from '../test-util/goldens.js';
import { goldenV2Path, readGoldenV2Array, readGoldenV2Json } from '../test-util/goldens-v2.js';
import { decodeImage } from './decode.js';
import { aaBilinearWeights, dynamicMaxPatches, naflexPreprocess, naflexTargetSize, positionResizeMatrix } from './naflex.js';
import { resizeBilinear } from './resize.js';
import { readSafetensors } from '../weights/safetensors.js';

interface Arr {
  file: string;
  dtype: string;
  shape: number[];
}
interface PreCase {
  key: string;
  image: string;
  size_wh: [number, number];
  decoded_rgb_u8_hwc: Arr;
  setting: string;
  patch_size: number;
  max_num_patches_requested: number;
  dynamic_max_patches: boolean;
  card_determine_max_value: number;
  max_num_patches: number;
  resized_hw: [number, number];
  resized_u8_hwc: Arr;
  spatial_shapes: [number, number];
  num_valid_patches: number;
  pixel_attention_mask: number[];
  pixel_values_f32: Arr;
}

const { cases } = readGoldenV2Json<{ cases: PreCase[] }>('preprocess_cases.json');

describe(`NaFlex preprocessing vs Fgclip2ImageProcessor (${cases.length} cases)`, () => {
  it('bucket rule: dynamic budget and the model card determine_max_value', () => {
    for (const c of cases) {
      const [w, h] = c.size_wh;
      assert.equal(dynamicMaxPatches(w, h, 16), c.card_determine_max_value, c.key);
      if (c.dynamic_max_patches) assert.equal(dynamicMaxPatches(w, h, c.patch_size), c.max_num_patches, c.key);
    }
  });

  it('size search: resized_hw and spatial shapes identical', () => {
    for (const c of cases) {
      const [w, h] = c.size_wh;
      const hw = naflexTargetSize(h, w, c.patch_size, c.max_num_patches);
      assert.deepEqual(hw, c.resized_hw, c.key);
      assert.deepEqual([hw[0] / c.patch_size, hw[1] / c.patch_size], c.spatial_shapes, c.key);
    }
  });

  for (const c of cases) {
    it(`${c.key}: decode, Pillow BILINEAR bytes, mask identical; pixel_values ≤ 1e-6`, async () => {
      const img = await decodeImage(goldenV2Path(c.image));
      const want = readGoldenV2Array(c.decoded_rgb_u8_hwc) as Uint8Array;
      assert.equal(img.data.length, want.length);
      let off = 0;
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) {
        const d = Math.abs(img.data[i] - want[i]);
        if (d) off++;
        maxDiff = Math.max(maxDiff, d);
      }
      if (c.image.endsWith('.png')) assert.equal(off, 0, `${c.key}: PNG decode differs`);
      else assert.ok(maxDiff <= 1 && off < want.length / 1000, `${c.key}: JPEG decode off by ${maxDiff} on ${off} samples`);
      // the rest of the pipeline from the reference's decoded bytes, so a JPEG decoder difference cannot hide in it
      const ref = { width: c.size_wh[0], height: c.size_wh[1], data: want };
      const out = naflexPreprocess(ref, {
        patchSize: c.patch_size,
        maxNumPatches: c.dynamic_max_patches ? c.max_num_patches_requested : c.max_num_patches,
        dynamic: c.dynamic_max_patches,
      });
      assert.equal(out.maxNumPatches, c.max_num_patches);
      assert.deepEqual(out.spatialShape, c.spatial_shapes);
      assert.deepEqual(
        Buffer.from(out.resized.data).equals(Buffer.from(readGoldenV2Array(c.resized_u8_hwc) as Uint8Array)),
        true,
        `${c.key}: resized bytes differ`,
      );
      assert.deepEqual(Array.from(out.mask), c.pixel_attention_mask);
      const pv = readGoldenV2Array(c.pixel_values_f32) as Float32Array;
      assert.equal(out.pixelValues.length, pv.length);
      let m = 0;
      for (let i = 0; i < pv.length; i++) m = Math.max(m, Math.abs(out.pixelValues[i] - pv[i]));
      assert.ok(m <= 1e-6, `${c.key}: pixel_values max abs diff ${m}`);
    });
  }
});

describe('resizeBilinear: Pillow semantics', () => {
  it('same size is a copy; 1-pixel images and extreme aspect ratios work', () => {
    const img = { width: 2, height: 1, data: Uint8Array.from([10, 20, 30, 40, 50, 60]) };
    const same = resizeBilinear(img, 2, 1);
    assert.notEqual(same.data, img.data);
    assert.deepEqual(Array.from(same.data), Array.from(img.data));
    assert.deepEqual(
      Array.from(resizeBilinear({ width: 1, height: 1, data: Uint8Array.from([7, 8, 9]) }, 5, 3).data),
      new Array(45).fill(0).map((_, i) => [7, 8, 9][i % 3]),
    );
  });
  it('bad target size is INPUT_INVALID', () => {
    assert.throws(
      () => resizeBilinear({ width: 1, height: 1, data: new Uint8Array(3) }, 0, 3),
      (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID',
    );
  });
});

describe('position-grid resize (PyTorch bilinear, antialias=True, align_corners=False)', () => {
  for (const model of ['fgclip2-tiny', 'fgclip2-small']) {
    it(`${model}: every spatial shape of the golden, relative L2 ≤ 1e-4 per row`, async () => {
      const cs = readGoldenV2Json<{
        position_embeddings: { spatial_shapes: [number, number][]; max_length: number; resized: number[][][] };
        position_grid: [number, number];
        hidden_size: number;
      }>(`${model}.cases.json`);
      const grid = cs.position_grid[0];
      const D = cs.hidden_size;
      const name = 'vision_model.embeddings.position_embedding.weight';
      const table = (await readSafetensors(goldenV2Path(model, 'model.safetensors'), { only: (n) => n === name })).get(name)?.data ?? new Float32Array();
      const pe = cs.position_embeddings;
      pe.spatial_shapes.forEach(([h, w], s) => {
        const M = positionResizeMatrix(grid, h, w, pe.max_length);
        for (let r = 0; r < pe.max_length; r++) {
          const row = new Float64Array(D);
          for (let k = 0; k < grid * grid; k++) {
            const m = M[r * grid * grid + k];
            if (m !== 0) for (let d = 0; d < D; d++) row[d] += m * table[k * D + d];
          }
          const e = relL2(row, pe.resized[s][r]);
          assert.ok(e <= 1e-4, `${model} ${h}x${w} row ${r}: ${e}`);
        }
      });
    });
  }
  it('weights sum to 1 and equal plain bilinear when upsampling', () => {
    const W = aaBilinearWeights(4, 7);
    for (let i = 0; i < 7; i++) {
      let s = 0;
      for (let j = 0; j < 4; j++) s += W[i * 4 + j];
      assert.ok(Math.abs(s - 1) < 1e-12);
    }
    // output 0 of 4 → 7: source coordinate (0.5)·4/7 − 0.5 < 0 → clamped to input 0
    assert.equal(W[0], 1);
  });
  it('a spatial shape larger than the budget is INPUT_INVALID', () => {
    assert.throws(
      () => positionResizeMatrix(4, 5, 5, 16),
      (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID',
    );
  });
});
