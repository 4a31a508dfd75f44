/**
 * Checkpoint validation follows from what the builders read (the scoped weight reader): every missing and every
 * mis-shaped tensor in one typed error; tensors nothing reads are reported; every tensor of a real checkpoint is read.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../config/load.js';
import { FgClip } from '../../model/handle.js';
import { goldenPath } from '../../test-util/goldens.js';
import { rejectsWith } from '../../test-util/errors.js';
import { readCheckpoint } from '../../weights/checkpoint.js';
import { fgclipTensors } from './checkpoint.js';
import { WeightReader } from '../../weights/reader.js';
import { encodeSafetensors, rawF32, type RawTensor } from '../../weights/safetensors-write.js';
import { readSafetensors } from '../../weights/safetensors.js';
import { buildTextGraph } from './text-graph.js';
import { buildVisionGraph } from './vision-graph.js';

const root = mkdtempSync(join(tmpdir(), 'fgclip-assemble-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** fgclip-tiny with its weights edited by `edit` (entries added, replaced or deleted). */
async function editedTiny(name: string, edit: (m: Map<string, RawTensor>) => void): Promise<string> {
  const dir = join(root, name);
  cpSync(goldenPath('fgclip-tiny'), dir, { recursive: true });
  const t = await readSafetensors(goldenPath('fgclip-tiny', 'model.safetensors'));
  const m = new Map([...t].map(([k, v]) => [k, rawF32(v)] as const));
  edit(m);
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(m));
  return dir;
}

describe('FG-CLIP assembly: the weight reader validates the checkpoint', () => {
  test('a missing and a mis-shaped tensor are named together in one WEIGHTS_MISSING error (expected and found shapes)', async () => {
    const dir = await editedTiny('two-problems', (m) => {
      m.delete('vision_model.encoder.layers.1.mlp.fc1.weight');
      m.set('text_model.final_layer_norm.bias', { dtype: 'F32', shape: [2, 16], bytes: new Uint8Array(128) });
    });
    await rejectsWith(
      FgClip.load(dir, { graphCache: false, threads: 1 }),
      'WEIGHTS_MISSING',
      /1 missing tensor\(s\): vision_model\.encoder\.layers\.1\.mlp\.fc1\.weight \[96, 48\]; 1 tensor\(s\) with the wrong shape: text_model\.final_layer_norm\.bias \(expected \[32\], got \[2, 16\]\)/,
      join(dir, 'model.safetensors'),
    );
  });

  test('only mis-shaped tensors give WEIGHTS_SHAPE; with the graph cache on, nothing is left in the cache', async () => {
    const dir = await editedTiny('shape-only', (m) => m.set('visual_projection.weight', { dtype: 'F32', shape: [48, 24], bytes: new Uint8Array(48 * 24 * 4) }));
    const cache = join(root, 'cache-shape');
    await rejectsWith(
      FgClip.load(dir, { graphCache: cache, threads: 1 }),
      'WEIGHTS_SHAPE',
      /visual_projection\.weight \(expected \[24, 48\], got \[48, 24\]\)/,
      dir,
    );
    const again = FgClip.load(dir, { graphCache: cache, threads: 1 });
    await rejectsWith(again, 'WEIGHTS_SHAPE', /visual_projection/, dir); // not served from a half-written cache
  });

  test('a tensor nothing reads is reported as unknown (warning), and the model still loads', async () => {
    const dir = await editedTiny('extra', (m) => m.set('text_model.extra_head.weight', { dtype: 'F32', shape: [2], bytes: new Uint8Array(8) }));
    const warnings: string[] = [];
    const m = await FgClip.load(dir, { graphCache: false, threads: 1, onWarning: (w) => warnings.push(w) });
    try {
      assert.deepEqual(m.unknownTensors, ['text_model.extra_head.weight']);
      assert.ok(
        warnings.some((w) => /1 tensor\(s\) not used by FG-CLIP: text_model\.extra_head\.weight/.test(w)),
        warnings.join('\n'),
      );
    } finally {
      m.dispose();
    }
  });

  for (const model of ['fgclip-tiny', 'fgclip-small']) {
    test(`${model}: every checkpoint tensor is used by some graph (or is a training temperature), with the shape the builders ask`, async () => {
      const config = await loadConfig(goldenPath(model));
      const { tensors, where } = await readCheckpoint(goldenPath(model));
      const all = new Map([...tensors].map(([k, t]) => [k, t.shape]));
      const w = new WeightReader(tensors, where);
      buildTextGraph(config, w);
      buildVisionGraph(config, w);
      w.check('');
      const byGraphs = new Set(w.consumed.keys());
      // read outside the graphs: the position tables (fed as inputs) and the temperatures (scoring; the two extra
      // ones only by the training loss)
      const outside = [
        'text_model.embeddings.position_embedding.weight',
        'text_model.embeddings.position_embedding_ori.weight',
        'text_model.embeddings.position_embedding_res.weight',
        'logit_scale',
        'logit_scale_finegraind',
        'logit_scale_hardneg',
      ];
      assert.deepEqual(w.unused().sort(), outside.sort());
      for (const [name, shape] of w.consumed) assert.deepEqual([...shape], all.get(name), name);
      // the family's tensor list (training's parameters, loadCheckpoint's validation) is what the builders read
      assert.deepEqual([...fgclipTensors(config).keys()].sort(), [...byGraphs, ...outside].sort());
    });
  }
});
