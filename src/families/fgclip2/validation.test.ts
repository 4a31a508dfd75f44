/**
 * FG-CLIP 2 checkpoint validation follows from what its graph builders read (the scoped weight reader): every missing
 * and mis-shaped tensor in one typed error, a tensor nothing reads reported as unknown.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { rejectsWith } from '../../test-util/errors.js';
import { loadFgclip2Model } from '../../test-util/fgclip2.js';
import { goldenV2Path } from '../../test-util/goldens-v2.js';
import { encodeSafetensors, rawF32, type RawTensor } from '../../weights/safetensors-write.js';
import { readSafetensors } from '../../weights/safetensors.js';

const root = mkdtempSync(join(tmpdir(), 'fgclip2-validate-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function edited(name: string, edit: (m: Map<string, RawTensor>) => void): Promise<string> {
  const dir = join(root, name);
  cpSync(goldenV2Path('fgclip2-tiny'), dir, { recursive: true });
  const t = await readSafetensors(goldenV2Path('fgclip2-tiny', 'model.safetensors'));
  const m = new Map([...t].map(([k, v]) => [k, rawF32(v)] as const));
  edit(m);
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(m));
  return dir;
}

test('fgclip2-tiny: a missing and a mis-shaped tensor are named together in one WEIGHTS_MISSING error', async () => {
  const t = await readSafetensors(goldenV2Path('fgclip2-tiny', 'model.safetensors'));
  const fc1 = 'vision_model.encoder.layers.0.mlp.fc1.weight';
  const ln = [...t.keys()].find((k) => k.startsWith('text_model.') && k.endsWith('layer_norm.bias')) ?? '';
  assert.ok(t.has(fc1) && t.has(ln), 'the tensors this test edits exist');
  const dir = await edited('two-problems', (m) => {
    m.delete(fc1);
    m.set(ln, { dtype: 'F32', shape: [2, 3], bytes: new Uint8Array(24) });
  });
  await rejectsWith(
    loadFgclip2Model(dir, { graphCache: false, threads: 1 }),
    'WEIGHTS_MISSING',
    new RegExp(
      `1 missing tensor\\(s\\): ${fc1.replace(/\./g, '\\.')} \\[\\d+, \\d+\\]; 1 tensor\\(s\\) with the wrong shape: ${ln.replace(/\./g, '\\.')} \\(expected \\[\\d+\\], got \\[2, 3\\]\\)`,
    ),
    join(dir, 'model.safetensors'),
  );
});

test('fgclip2-tiny: a tensor nothing reads is listed in unknownTensors; the model loads', async () => {
  const dir = await edited('extra', (m) => m.set('text_model.extra_head.weight', { dtype: 'F32', shape: [2], bytes: new Uint8Array(8) }));
  const m = await loadFgclip2Model(dir, { graphCache: false, threads: 1 });
  try {
    assert.deepEqual(m.unknownTensors, ['text_model.extra_head.weight']);
  } finally {
    await m.dispose();
  }
});
