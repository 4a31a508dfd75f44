/** The family registry: config.json's `architectures` (else `model_type`) picks the family; no match lists them all. */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FgClip } from '../model/handle.js';
import { goldenPath } from '../test-util/goldens.js';
import { rejectsWith } from '../test-util/errors.js';
import { describeFamilies, FAMILIES, pickFamily } from './registry.js';

describe('family registry', () => {
  const root = mkdtempSync(join(tmpdir(), 'fgclip-registry-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('FGCLIPModel picks fgclip; a config without architectures falls back to model_type clip → fgclip', () => {
    assert.equal(pickFamily({ architectures: ['FGCLIPModel'], model_type: 'clip' }, 'c.json').id, 'fgclip');
    assert.equal(pickFamily({ model_type: 'clip' }, 'c.json').id, 'fgclip');
  });

  test('the first architecture a family claims wins', () => {
    assert.equal(pickFamily({ architectures: ['SomethingElse', 'FGCLIPModel'] }, 'c.json').id, 'fgclip');
  });

  test('family ids are unique and every family claims something', () => {
    assert.equal(new Set(FAMILIES.map((f) => f.id)).size, FAMILIES.length);
    for (const f of FAMILIES) assert.ok(f.architectures.length > 0, f.id);
  });

  test('an unknown architecture is CONFIG_INVALID naming the file, what it said, and every known family', () => {
    assert.throws(
      () => pickFamily({ architectures: ['LlamaForCausalLM'] }, 'x/config.json'),
      (e: unknown) =>
        e instanceof Error &&
        /x\/config\.json/.test(e.message) &&
        /LlamaForCausalLM/.test(e.message) &&
        e.message.includes(describeFamilies()) &&
        /fgclip \(FG-CLIP v1/.test(e.message),
    );
    assert.throws(() => pickFamily({ model_type: 'bert' }, 'c.json'), /model_type "bert".*Known families: fgclip/);
    assert.throws(() => pickFamily({ architectures: 'FGCLIPModel' }, 'c.json'), /architectures must be a list/);
    assert.throws(() => pickFamily({}, 'c.json'), /no model family loads model_type nothing/);
  });

  test('FgClip.load of a checkpoint of an unknown family fails before reading weights, listing the families', async () => {
    const dir = join(root, 'llama');
    cpSync(goldenPath('fgclip-tiny'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, architectures: ['LlamaForCausalLM'], model_type: 'llama' }));
    await rejectsWith(
      FgClip.load(dir, { graphCache: false }),
      'CONFIG_INVALID',
      /no model family loads architectures \["LlamaForCausalLM"\]\. Known families: fgclip/,
      join(dir, 'config.json'),
    );
  });
});
