/**
 * The peer's exporter-pattern graph (peer-graph.ts) computes what the library computes: on fgclip-tiny (gelu) and
 * fgclip-small (quick_gelu) its image_embeds equal the goldens' image features within rel L2 1e-4 (goldens/README.md),
 * so the peer benchmark compares two implementations of the same function on the same weights.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { EXTERNAL_DATA_NAME } from '../src/graph/onnx-builder.js';
import { ort } from '../src/runtime/session.js';
import { goldenPath, readGoldenJson, relL2 } from '../src/test-util/goldens.js';
import { readCheckpoint } from '../src/weights/checkpoint.js';
import { buildPeerVisionModel, PEER_IMAGE_EMBEDS, PEER_INPUT, PEER_LAST_HIDDEN } from './peer-graph.js';

for (const size of ['tiny', 'small'] as const) {
  test(`peer graph (torch-export node pattern, weights embedded) on fgclip-${size}: image_embeds equal the goldens within rel L2 1e-4`, async () => {
    const dir = goldenPath(`fgclip-${size}`);
    const config = await loadConfig(dir);
    const { tensors } = await readCheckpoint(dir);
    const bytes = buildPeerVisionModel(config, tensors);
    const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    try {
      assert.deepEqual([...s.inputNames], [PEER_INPUT]);
      assert.ok(!new TextDecoder().decode(bytes.subarray(0, 4096)).includes(EXTERNAL_DATA_NAME), 'weights are embedded');
      const C = readGoldenJson<{ image: { pixel_values: number[][][][]; features: number[][] } }>(`fgclip-${size}.cases.json`);
      const S = config.vision_config.image_size;
      const B = C.image.pixel_values.length;
      const out = await s.run({ [PEER_INPUT]: new ort.Tensor('float32', Float32Array.from(C.image.pixel_values.flat(3)), [B, 3, S, S]) });
      const P = config.projection_dim;
      const img = out[PEER_IMAGE_EMBEDS].data as Float32Array;
      C.image.features.forEach((f, i) =>
        assert.ok(relL2(img.subarray(i * P, (i + 1) * P), f) <= 1e-4, `image ${i}: ${relL2(img.subarray(i * P, (i + 1) * P), f)}`),
      );
      assert.deepEqual(out[PEER_LAST_HIDDEN].dims, [B, (S / config.vision_config.patch_size) ** 2 + 1, config.vision_config.hidden_size]);
    } finally {
      await s.release();
    }
  });
}
