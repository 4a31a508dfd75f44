/**
 * Named intermediate outputs: with `intermediates`, every block's output is a graph output named after its module
 * path, the final outputs stay bit-identical, and the goldens are reached layer by layer where they allow it: the
 * last block's output, finished in float64 here (CLS row / first end token → LayerNorm → projection), gives the
 * reference's image and short-text features within rel L2 1e-4 (goldens/README.md). The goldens hold no earlier
 * per-layer values, so earlier blocks are checked for presence, shape and finiteness.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadConfig } from '../../config/load.js';
import type { FgClipConfig } from '../../config/types.js';
import { buildTextGraph, TEXT_EMBEDS_SHORT } from './text-graph.js';
import { buildLongPositions, prepareTextBatch } from './text-inputs.js';
import { buildVisionGraph, IMAGE_EMBEDS, VISION_INPUT } from './vision-graph.js';
import { createSession, ort } from '../../runtime/session.js';
import { goldenPath, readGoldenJson, relL2 } from '../../test-util/goldens.js';
import { readCheckpoint } from '../../weights/checkpoint.js';
import { WeightReader } from '../../weights/reader.js';
import type { TensorMap } from '../../weights/types.js';

interface Cases {
  text_short: { input_ids: number[][]; features: number[][] };
  image: { pixel_values: number[][][][]; features: number[][] };
}

/** LayerNorm then a [P, D] projection (PyTorch layout), in float64. */
function finish(row: ArrayLike<number>, t: TensorMap, ln: string, proj: string, eps: number): Float64Array {
  const D = row.length;
  let mean = 0;
  for (let i = 0; i < D; i++) mean += row[i];
  mean /= D;
  let v = 0;
  for (let i = 0; i < D; i++) v += (row[i] - mean) ** 2;
  v /= D;
  const w = t.get(`${ln}.weight`)?.data as Float32Array;
  const b = t.get(`${ln}.bias`)?.data as Float32Array;
  const n = Float64Array.from({ length: D }, (_, i) => ((row[i] - mean) / Math.sqrt(v + eps)) * w[i] + b[i]);
  const W = t.get(`${proj}.weight`)?.data as Float32Array;
  const P = W.length / D;
  return Float64Array.from({ length: P }, (_, o) => n.reduce((s, x, i) => s + x * W[o * D + i], 0));
}

describe('named intermediate outputs (fgclip-tiny)', () => {
  const C = readGoldenJson<Cases>('fgclip-tiny.cases.json');
  let config: FgClipConfig;
  let tensors: TensorMap;
  before(async () => {
    config = await loadConfig(goldenPath('fgclip-tiny'));
    tensors = (await readCheckpoint(goldenPath('fgclip-tiny'))).tensors;
  });

  test('vision: embeddings, pre_layrnorm, every layer, the dense branch and post_layernorm are outputs; image_embeds unchanged; last layer → golden image features', async () => {
    const vc = config.vision_config;
    const L = vc.num_hidden_layers;
    const withI = await createSession('v', buildVisionGraph(config, new WeightReader(tensors, 'tiny'), { intermediates: true }), { threads: 1 });
    const plain = await createSession('v', buildVisionGraph(config, new WeightReader(tensors, 'tiny')), { threads: 1 });
    const S = vc.image_size;
    const B = C.image.pixel_values.length;
    const px = new ort.Tensor('float32', Float32Array.from(C.image.pixel_values.flat(3)), [B, 3, S, S]);
    const a = await withI.run({ [VISION_INPUT]: px });
    const b = await plain.run({ [VISION_INPUT]: px });
    const names = [
      'vision_model.embeddings',
      'vision_model.pre_layrnorm',
      ...Array.from({ length: L }, (_, i) => `vision_model.encoder.layers.${i}`),
      `vision_model.encoder.layers.${L - 1}.without_attn`,
    ];
    const N = (S / vc.patch_size) ** 2 + 1;
    for (const n of names) {
      assert.deepEqual(a[n]?.dims, [B, N, vc.hidden_size], n);
      assert.ok((a[n].data as Float32Array).every(Number.isFinite), n);
    }
    assert.deepEqual(a['vision_model.post_layernorm'].dims, [B, vc.hidden_size]);
    assert.deepEqual(a[IMAGE_EMBEDS].data, b[IMAGE_EMBEDS].data);
    const last = a[`vision_model.encoder.layers.${L - 1}`].data as Float32Array;
    C.image.features.forEach((f, i) => {
      const cls = last.subarray(i * N * vc.hidden_size, i * N * vc.hidden_size + vc.hidden_size);
      const got = finish(cls, tensors, 'vision_model.post_layernorm', 'visual_projection', vc.layer_norm_eps);
      assert.ok(relL2(got, f) <= 1e-4, `image ${i}: ${relL2(got, f)}`);
    });
    await withI.release();
    await plain.release();
  });

  test('text: embeddings, every layer and final_layer_norm are outputs; text_embeds_short unchanged; last layer at the first end token → golden short features', async () => {
    const tc = config.text_config;
    const L = tc.num_hidden_layers;
    const D = tc.hidden_size;
    const withI = await createSession('t', buildTextGraph(config, new WeightReader(tensors, 'tiny'), { intermediates: true }), { threads: 1 });
    const plain = await createSession('t', buildTextGraph(config, new WeightReader(tensors, 'tiny')), { threads: 1 });
    const pos = (n: string) => tensors.get(`text_model.embeddings.${n}.weight`)?.data as Float32Array;
    const tables = {
      shortPositions: pos('position_embedding'),
      longPositions: buildLongPositions(pos('position_embedding_ori'), pos('position_embedding_res'), D, config.long_keep_length),
    };
    const batch = prepareTextBatch(config, tables, C.text_short.input_ids, 'short');
    const feeds = {
      input_ids: new ort.Tensor('int64', batch.ids, [batch.B, batch.T]),
      position_embeds: new ort.Tensor('float32', batch.positions, [batch.T, D]),
      causal_mask: new ort.Tensor('float32', batch.mask, [batch.T, batch.T]),
      pool_index: new ort.Tensor('int64', batch.poolIndex, [batch.B]),
    };
    const a = await withI.run(feeds);
    const b = await plain.run(feeds);
    for (const n of ['text_model.embeddings', ...Array.from({ length: L }, (_, i) => `text_model.encoder.layers.${i}`)])
      assert.deepEqual(a[n]?.dims, [batch.B, batch.T, D], n);
    assert.deepEqual(a['text_model.final_layer_norm'].dims, [batch.B, D]);
    assert.deepEqual(a[TEXT_EMBEDS_SHORT].data, b[TEXT_EMBEDS_SHORT].data);
    const last = a[`text_model.encoder.layers.${L - 1}`].data as Float32Array;
    C.text_short.features.forEach((f, i) => {
      const row = Number(batch.poolIndex[i]);
      const got = finish(last.subarray(row * D, (row + 1) * D), tensors, 'text_model.final_layer_norm', 'text_projection', tc.layer_norm_eps);
      assert.ok(relL2(got, f) <= 1e-4, `text ${i}: ${relL2(got, f)}`);
    });
    await withI.release();
    await plain.release();
  });
});
