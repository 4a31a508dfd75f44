/**
 * The 'train' build mode (src/graph/blocks.ts `BuildMode`): every float initializer of the FG-CLIP v1 graphs is a
 * checkpoint tensor under its checkpoint name, with its stored values and shape (no transposes, no folded q-scale),
 * except scalar builder constants; and the graphs still compute the reference's features (goldens, rel L2 1e-4) and,
 * closely, the inference graphs' (the unfolded q-scale rounds differently when head_dim^-0.5 is not a power of two).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../config/load.js';
import { createSession, ort } from '../../runtime/session.js';
import { goldenPath, readGoldenJson, relL2 } from '../../test-util/goldens.js';
import { floatInitializers, initializerDims } from '../../test-util/onnx.js';
import { readCheckpoint } from '../../weights/checkpoint.js';
import { WeightReader } from '../../weights/reader.js';
import { buildTextGraph, fgclipPositionsInGraph, TEXT_EMBEDS_LONG, TEXT_EMBEDS_SHORT } from './text-graph.js';
import { buildLongPositions, prepareTextBatch } from './text-inputs.js';
import { buildVisionGraph, DENSE_EMBEDS, IMAGE_EMBEDS, VISION_INPUT } from './vision-graph.js';

interface Cases {
  text_short: { input_ids: number[][]; features: number[][] };
  text_long: { input_ids: number[][]; features: number[][] };
  image: { pixel_values: number[][][][]; features: number[][] };
  dense: { features: number[][][] };
}

const TOL = 1e-4;

for (const model of ['fgclip-tiny', 'fgclip-small'] as const) {
  describe(`train build mode, ${model}`, () => {
    const C = readGoldenJson<Cases>(`${model}.cases.json`);

    test('float initializers are the checkpoint tensors as stored (names, shapes, bytes); every tensor the graphs read is one; only scalar constants besides', async () => {
      const config = await loadConfig(goldenPath(model));
      const { tensors, where } = await readCheckpoint(goldenPath(model));
      const w = new WeightReader(tensors, where);
      const graphs = [buildTextGraph(config, w, { mode: 'train' }), buildVisionGraph(config, w, { mode: 'train' })];
      w.check('');
      const seen = new Set<string>();
      for (const built of graphs) {
        const dims = initializerDims(built);
        for (const [name, bytes] of floatInitializers(built)) {
          const t = tensors.get(name);
          if (!t) {
            assert.ok((dims.get(name) ?? []).reduce((a, b) => a * b, 1) <= 1, `${name}: a non-checkpoint initializer is a scalar constant`);
            continue;
          }
          seen.add(name);
          assert.deepEqual(dims.get(name), [...t.shape], `${name}: the checkpoint's shape`);
          assert.ok(Buffer.from(bytes).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${name}: the checkpoint's values`);
        }
      }
      assert.deepEqual([...seen].sort(), [...w.consumed.keys()].sort());
    });

    test(`image, dense, short and long text features equal the reference (rel L2 ${TOL}) and the inference graphs' (rel L2 1e-5)`, async () => {
      const config = await loadConfig(goldenPath(model));
      const { tensors, where } = await readCheckpoint(goldenPath(model));
      const open = (mode: 'train' | 'inference') =>
        Promise.all([
          createSession(`text ${mode}`, buildTextGraph(config, new WeightReader(tensors, where), { mode }), { threads: 1 }),
          createSession(`vision ${mode}`, buildVisionGraph(config, new WeightReader(tensors, where), { mode }), { threads: 1 }),
        ]);
      const [[tt, tv], [it, iv]] = await Promise.all([open('train'), open('inference')]);
      try {
        const vc = config.vision_config;
        const S = vc.image_size;
        const B = C.image.pixel_values.length;
        const px = { [VISION_INPUT]: new ort.Tensor('float32', Float32Array.from(C.image.pixel_values.flat(3)), [B, 3, S, S]) };
        const [a, b] = [await tv.run(px), await iv.run(px)];
        const P = config.projection_dim;
        const img = a[IMAGE_EMBEDS].data as Float32Array;
        const ref = b[IMAGE_EMBEDS].data as Float32Array;
        assert.ok(relL2(img, ref) <= 1e-5, `image vs inference: ${relL2(img, ref)}`);
        C.image.features.forEach((f, i) => assert.ok(relL2(img.subarray(i * P, (i + 1) * P), f) <= TOL, `image ${i}`));
        const dense = a[DENSE_EMBEDS].data as Float32Array;
        assert.ok(relL2(dense, b[DENSE_EMBEDS].data as Float32Array) <= 1e-5, 'dense vs inference');
        const N = C.dense.features[0].length;
        C.dense.features.forEach((f, i) =>
          assert.ok(
            relL2(dense.subarray(i * N * P, (i + 1) * N * P), f.flat()) <= TOL,
            `dense ${i}: ${relL2(dense.subarray(i * N * P, (i + 1) * N * P), f.flat())}`,
          ),
        );

        const D = config.text_config.hidden_size;
        const pos = (n: string) => tensors.get(`text_model.embeddings.${n}.weight`)?.data as Float32Array;
        const tables = {
          shortPositions: pos('position_embedding'),
          longPositions: buildLongPositions(pos('position_embedding_ori'), pos('position_embedding_res'), D, config.long_keep_length),
        };
        for (const [mode, cases, out] of [
          ['short', C.text_short, TEXT_EMBEDS_SHORT],
          ['long', C.text_long, TEXT_EMBEDS_LONG],
        ] as const) {
          const batch = prepareTextBatch(config, tables, cases.input_ids, mode);
          const feeds = {
            input_ids: new ort.Tensor('int64', batch.ids, [batch.B, batch.T]),
            position_embeds: new ort.Tensor('float32', batch.positions, [batch.T, D]),
            causal_mask: new ort.Tensor('float32', batch.mask, [batch.T, batch.T]),
            pool_index: new ort.Tensor('int64', batch.poolIndex, [batch.B]),
          };
          const got = (await tt.run(feeds))[out].data as Float32Array;
          assert.ok(relL2(got, (await it.run(feeds))[out].data as Float32Array) <= 1e-5, `${mode} vs inference`);
          cases.features.forEach((f, i) =>
            assert.ok(relL2(got.subarray(i * P, (i + 1) * P), f) <= TOL, `${mode} text ${i}: ${relL2(got.subarray(i * P, (i + 1) * P), f)}`),
          );
          // the position rows selected inside the graph from the checkpoint's tables: the same numbers
          const inGraph = await createSession(
            `text ${mode} positions in graph`,
            buildTextGraph(config, new WeightReader(tensors, where), { mode: 'train', positionsInGraph: fgclipPositionsInGraph(config, mode) }),
            { threads: 1 },
          );
          try {
            const { position_embeds: _, ...idsOnly } = feeds;
            assert.deepEqual((await inGraph.run(idsOnly))[out].data, got, `${mode}: positions selected in the graph`);
          } finally {
            await inGraph.release();
          }
        }
      } finally {
        for (const s of [tt, tv, it, iv]) await s.release();
      }
    });
  });
}

test('every checkpoint tensor is an initializer of some train-mode graph (vision; text with the short and the long positions selected in the graph), but the temperatures, which only the training loss reads', async () => {
  for (const model of ['fgclip-tiny', 'fgclip-small']) {
    const config = await loadConfig(goldenPath(model));
    const { tensors, where } = await readCheckpoint(goldenPath(model));
    const inits = new Set<string>();
    for (const built of [
      buildVisionGraph(config, new WeightReader(tensors, where), { mode: 'train' }),
      buildTextGraph(config, new WeightReader(tensors, where), { mode: 'train', positionsInGraph: fgclipPositionsInGraph(config, 'short') }),
      buildTextGraph(config, new WeightReader(tensors, where), { mode: 'train', positionsInGraph: fgclipPositionsInGraph(config, 'long') }),
    ])
      for (const name of floatInitializers(built).keys()) inits.add(name);
    const unused = [...tensors.keys()].filter((n) => !inits.has(n)).sort();
    assert.deepEqual(unused, ['logit_scale', 'logit_scale_finegraind', 'logit_scale_hardneg'], model);
  }
});

test('train mode keeps float32 checkpoint tensors: int8 or fp16 linears are refused', async () => {
  const config = await loadConfig(goldenPath('fgclip-tiny'));
  const { tensors, where } = await readCheckpoint(goldenPath('fgclip-tiny'));
  for (const dtype of ['int8', 'fp16'] as const) {
    assert.throws(() => buildVisionGraph(config, new WeightReader(tensors, where), { mode: 'train', dtype }), /train mode is fp32/);
    assert.throws(() => buildTextGraph(config, new WeightReader(tensors, where), { mode: 'train', dtype }), /train mode is fp32/);
  }
});
