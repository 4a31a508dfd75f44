/**
 * Initializer names of the built graphs (docs/architecture.md, "Tensor names"): an initializer named after a
 * checkpoint tensor holds exactly that tensor's bytes; every other float initializer is a remapped copy named
 * `<checkpoint name>_<remap>` (transposed, q-scale folded, interpolated, float16) — never a checkpoint name holding
 * other values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../config/load.js';
import type { BuiltModel } from '../../graph/onnx-builder.js';
import { goldenPath } from '../../test-util/goldens.js';
import { floatInitializers } from '../../test-util/onnx.js';
import { readCheckpoint } from '../../weights/checkpoint.js';
import { WeightReader } from '../../weights/reader.js';
import type { TensorMap } from '../../weights/types.js';
import { visionPositionsFor } from '../shared/clip-towers.js';
import { buildTextGraph } from './text-graph.js';
import { buildVisionGraph } from './vision-graph.js';

const REMAP = /^(.+?)_(transposed|transposed_scaled|scaled|interpolated|transposed_fp16|transposed_scaled_fp16)$/;

function checkNames(built: BuiltModel, checkpoint: TensorMap, seen: Set<string>): void {
  for (const [name, bytes] of floatInitializers(built)) {
    const t = checkpoint.get(name);
    if (t) {
      const want = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      assert.ok(Buffer.from(bytes).equals(Buffer.from(want)), `${name}: an initializer with a checkpoint name holds that tensor's values as stored`);
      continue;
    }
    const r = REMAP.exec(name);
    if (r && checkpoint.has(r[1])) {
      seen.add(r[2]);
      continue;
    }
    // builder constants (no checkpoint counterpart, e.g. the GELU's sqrt 2) must not look like checkpoint tensors
    assert.ok(!r && !/\.(weight|bias)(_|$)/.test(name) && !name.includes('embedding'), `${name}: not a checkpoint tensor, not a named remap`);
  }
}

test('fgclip-tiny graphs (native size, fp32 and fp16, and an interpolated resolution): checkpoint-named initializers hold the checkpoint bytes exactly; remapped ones are named <tensor>_<remap>', async () => {
  const dir = goldenPath('fgclip-tiny');
  const config = await loadConfig(dir);
  const { tensors, where } = await readCheckpoint(dir);
  const seen = new Set<string>();
  for (const dtype of ['fp32', 'fp16'] as const) {
    checkNames(buildTextGraph(config, new WeightReader(tensors, where), { dtype }), tensors, seen);
    checkNames(buildVisionGraph(config, new WeightReader(tensors, where), { dtype }), tensors, seen);
  }
  const vc = config.vision_config;
  const S = vc.image_size + 2 * vc.patch_size;
  const w = new WeightReader(tensors, where);
  const positionEmbedding = visionPositionsFor(config, w, S);
  checkNames(buildVisionGraph(config, w, { imageSize: S, positionEmbedding }), tensors, seen);
  assert.deepEqual([...seen].sort(), ['interpolated', 'scaled', 'transposed', 'transposed_fp16', 'transposed_scaled', 'transposed_scaled_fp16']);
});
