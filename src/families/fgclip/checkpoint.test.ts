/**
 * FG-CLIP v1's tensor list (what its graph builders read) against the reference checkpoints, and `loadCheckpoint`'s
 * validation, which follows from it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import type { FgClipConfig } from '../../config/types.js';
import { isFgClipError, type FgClipErrorCode } from '../../errors.js';
import { goldenPath } from '../../test-util/goldens.js';
import { buildLongPositionTables } from '../../weights/checkpoint.js';
import { fgclipTensors, loadCheckpoint } from './checkpoint.js';
import { readSafetensors, readSafetensorsHeader } from '../../weights/safetensors.js';
import { encodeSafetensors, rawF32, type RawTensor } from '../../weights/safetensors-write.js';
import type { TensorMap } from '../../weights/types.js';

const tmp = mkdtempSync(join(tmpdir(), 'fgclip-ckpt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let cfg: FgClipConfig;
let tiny: TensorMap;
before(async () => {
  cfg = await loadConfig(goldenPath('fgclip-tiny'));
  tiny = await readSafetensors(goldenPath('fgclip-tiny', 'model.safetensors'));
});

let n = 0;
/** A fresh folder holding `files` (name → bytes). */
function folder(files: Record<string, Uint8Array | string>): string {
  const dir = join(tmp, `case${n++}`);
  mkdirSync(dir);
  for (const [f, b] of Object.entries(files)) writeFileSync(join(dir, f), b);
  return dir;
}
/** The tiny checkpoint as F32 safetensors entries, edited by `edit`. */
function tinyEntries(edit: (m: Map<string, RawTensor>) => void = () => undefined): Map<string, RawTensor> {
  const m = new Map([...tiny].map(([k, t]) => [k, rawF32(t)] as const));
  edit(m);
  return m;
}
async function rejectsWith(p: Promise<unknown>, code: FgClipErrorCode, res: RegExp[], file: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isFgClipError(e), `expected FgClipError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(file), `message should name ${file}: ${e.message}`);
    for (const re of res) assert.match(e.message, re);
    return true;
  });
}

describe('fgclipTensors: what the builders read is the reference checkpoint (docs/model-spec.md §1.3)', () => {
  for (const model of ['fgclip-tiny', 'fgclip-small']) {
    test(`${model}: names and shapes equal the golden model.safetensors header exactly`, async () => {
      const c = await loadConfig(goldenPath(model));
      const header = await readSafetensorsHeader(goldenPath(model, 'model.safetensors'));
      const fromFile = new Map(header.tensors.map((t) => [t.name, [...t.shape]]));
      assert.deepEqual(new Map([...fgclipTensors(c)].sort()), new Map([...fromFile].sort()));
    });
  }
  test('vision position rows = (image_size/patch_size)^2 + 1 and the long tables have 248 rows', () => {
    const m = fgclipTensors(cfg);
    assert.deepEqual(m.get('vision_model.embeddings.position_embedding.weight'), [17, 48]);
    assert.deepEqual(m.get('text_model.embeddings.position_embedding_ori.weight'), [248, 32]);
    assert.deepEqual(m.get('vision_model.embeddings.patch_embedding.weight'), [48, 3, 8, 8]);
  });
});

describe('loadCheckpoint on the golden folders', () => {
  for (const [model, count, file] of [
    ['fgclip-tiny', 83, 'model.safetensors'],
    ['fgclip-small', 115, 'model.safetensors'],
    ['fgclip-tiny-pt', 83, 'pytorch_model.bin'],
  ] as const) {
    test(`${model}: all ${count} expected tensors present with the expected shapes, nothing unknown`, async () => {
      const c = await loadConfig(goldenPath(model));
      const ck = await loadCheckpoint(goldenPath(model), c);
      assert.equal(ck.tensors.size, count);
      assert.deepEqual(ck.files, [goldenPath(model, file)]);
      assert.deepEqual(ck.unknown, []);
      assert.deepEqual(ck.carried, []);
      for (const [name, shape] of fgclipTensors(c)) assert.deepEqual(ck.tensors.get(name)?.shape, shape, name);
    });
  }
});

describe('loadCheckpoint: problems are reported in one error', () => {
  test('a missing and a mis-shaped tensor are both named in one WEIGHTS_MISSING error with expected/found shapes', async () => {
    const entries = tinyEntries((m) => {
      m.delete('text_projection.weight');
      const v = m.get('visual_projection.weight')!; // [24, 48] stored as [48, 24]: same bytes, wrong shape
      m.set('visual_projection.weight', { ...v, shape: [48, 24] });
    });
    const dir = folder({ 'model.safetensors': encodeSafetensors(entries) });
    await rejectsWith(
      loadCheckpoint(dir, cfg),
      'WEIGHTS_MISSING',
      [
        /1 missing tensor\(s\): text_projection\.weight \[24, 32\]/,
        /1 tensor\(s\) with the wrong shape: visual_projection\.weight \(expected \[24, 48\], got \[48, 24\]\)/,
      ],
      join(dir, 'model.safetensors'),
    );
  });

  test('only mis-shaped tensors give WEIGHTS_SHAPE listing all of them', async () => {
    const entries = tinyEntries((m) => {
      for (const k of ['text_model.final_layer_norm.weight', 'text_model.final_layer_norm.bias']) m.set(k, { ...m.get(k)!, shape: [2, 16] });
    });
    const dir = folder({ 'model.safetensors': encodeSafetensors(entries) });
    await rejectsWith(
      loadCheckpoint(dir, cfg),
      'WEIGHTS_SHAPE',
      [/2 tensor\(s\) with the wrong shape/, /final_layer_norm\.weight \(expected \[32\], got \[2, 16\]\)/, /final_layer_norm\.bias/],
      dir,
    );
  });

  test('unknown tensors are returned (not loaded); int64 position_ids buffers are dropped silently', async () => {
    const entries = tinyEntries((m) => {
      m.set('extra_head.weight', { dtype: 'F32', shape: [2], bytes: new Uint8Array(8) });
      m.set('text_model.embeddings.position_ids', { dtype: 'I64', shape: [1, 77], bytes: new Uint8Array(77 * 8) });
    });
    const dir = folder({ 'model.safetensors': encodeSafetensors(entries) });
    const ck = await loadCheckpoint(dir, cfg);
    assert.deepEqual(ck.unknown, ['extra_head.weight']);
    assert.equal(ck.tensors.size, 83);
    assert.equal(ck.tensors.has('extra_head.weight'), false);
  });

  test('a folder without weights is WEIGHTS_MISSING listing the three file names looked for', async () => {
    const dir = folder({});
    await rejectsWith(loadCheckpoint(dir, cfg), 'WEIGHTS_MISSING', [/model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin/], dir);
  });
});

describe('loadCheckpoint: sharded safetensors', () => {
  function shards(): { a: Map<string, RawTensor>; b: Map<string, RawTensor>; index: Record<string, string> } {
    const all = [...tinyEntries()];
    const a = new Map(all.slice(0, 40));
    const b = new Map(all.slice(40));
    const index: Record<string, string> = {};
    for (const k of a.keys()) index[k] = 'model-00001-of-00002.safetensors';
    for (const k of b.keys()) index[k] = 'model-00002-of-00002.safetensors';
    return { a, b, index };
  }

  test('two shards + index load to tensors bit-identical to the single file', async () => {
    const { a, b, index } = shards();
    const dir = folder({
      'model-00001-of-00002.safetensors': encodeSafetensors(a),
      'model-00002-of-00002.safetensors': encodeSafetensors(b),
      'model.safetensors.index.json': JSON.stringify({ metadata: { total_size: 0 }, weight_map: index }),
    });
    const ck = await loadCheckpoint(dir, cfg);
    assert.deepEqual(ck.files, [join(dir, 'model-00001-of-00002.safetensors'), join(dir, 'model-00002-of-00002.safetensors')]);
    assert.equal(ck.tensors.size, 83);
    for (const [k, t] of tiny) assert.deepEqual(ck.tensors.get(k)!.data, t.data, k);
  });

  test('a shard path "../evil.safetensors" is refused before anything outside the folder is read', async () => {
    const { a, b, index } = shards();
    for (const k of b.keys()) index[k] = '../evil.safetensors';
    const dir = folder({ 'model-00001-of-00002.safetensors': encodeSafetensors(a), 'model.safetensors.index.json': JSON.stringify({ weight_map: index }) });
    writeFileSync(join(tmp, 'evil.safetensors'), encodeSafetensors(b));
    await rejectsWith(
      loadCheckpoint(dir, cfg),
      'WEIGHTS_MALFORMED',
      [/"\.\.\/evil\.safetensors" is not a plain file name/],
      join(dir, 'model.safetensors.index.json'),
    );
  });

  test('absolute shard paths are refused too', async () => {
    const { index } = shards();
    index['logit_scale'] = join(tmp, 'x.safetensors');
    const dir = folder({ 'model.safetensors.index.json': JSON.stringify({ weight_map: index }) });
    await rejectsWith(loadCheckpoint(dir, cfg), 'WEIGHTS_MALFORMED', [/is not a plain file name/], dir);
  });

  test('a tensor listed in the index but absent from its shard is WEIGHTS_MALFORMED naming tensor and shard', async () => {
    const { a, b, index } = shards();
    const moved = [...b.keys()][0];
    const dir = folder({
      'model-00001-of-00002.safetensors': encodeSafetensors(a),
      'model-00002-of-00002.safetensors': encodeSafetensors([...b].filter(([k]) => k !== moved)),
      'model.safetensors.index.json': JSON.stringify({ weight_map: index }),
    });
    await rejectsWith(
      loadCheckpoint(dir, cfg),
      'WEIGHTS_MALFORMED',
      [new RegExp(`${moved.replace(/\./g, '\\.')} \\(listed in model-00002-of-00002\\.safetensors\\)`)],
      dir,
    );
  });

  test('an index without weight_map is WEIGHTS_MALFORMED', async () => {
    const dir = folder({ 'model.safetensors.index.json': JSON.stringify({ metadata: {} }) });
    await rejectsWith(loadCheckpoint(dir, cfg), 'WEIGHTS_MALFORMED', [/weight_map must be an object/], dir);
  });
});

describe('loadCheckpoint: a plain OpenAI-CLIP layout is carried into the FG-CLIP layout', () => {
  const fgOnly = [
    'text_model.embeddings.position_embedding_ori.weight',
    'text_model.embeddings.position_embedding_res.weight',
    'text_filip_projection.weight',
    'logit_scale_finegraind',
    'logit_scale_hardneg',
  ];

  test('ori/res built from the 77-row table, text_filip_projection = text_projection, extra temperatures = init value', async () => {
    const dir = folder({ 'model.safetensors': encodeSafetensors(tinyEntries((m) => fgOnly.forEach((k) => m.delete(k)))) });
    const ck = await loadCheckpoint(dir, cfg);
    assert.deepEqual([...ck.carried].sort(), [...fgOnly].sort());
    assert.equal(ck.tensors.size, 83);
    const built = buildLongPositionTables(tiny.get('text_model.embeddings.position_embedding.weight')!);
    assert.deepEqual(ck.tensors.get(fgOnly[0])!.data, built.ori.data);
    assert.deepEqual(ck.tensors.get(fgOnly[1])!.data, built.res.data);
    assert.deepEqual(ck.tensors.get('text_filip_projection.weight')!.data, tiny.get('text_projection.weight')!.data);
    assert.notEqual(ck.tensors.get('text_filip_projection.weight')!.data, ck.tensors.get('text_projection.weight')!.data);
    assert.deepEqual([...ck.tensors.get('logit_scale_hardneg')!.data], [Math.fround(2.6592)]);
    assert.deepEqual(ck.tensors.get('logit_scale_hardneg')!.shape, []);
  });

  test('an FG-CLIP checkpoint missing only text_filip_projection is not carried: WEIGHTS_MISSING', async () => {
    const dir = folder({ 'model.safetensors': encodeSafetensors(tinyEntries((m) => m.delete('text_filip_projection.weight'))) });
    await rejectsWith(loadCheckpoint(dir, cfg), 'WEIGHTS_MISSING', [/text_filip_projection\.weight \[24, 32\]/], dir);
  });
});

describe('loadCheckpoint: special files where a weight file should be are refused before opening', () => {
  const cases: [string, (p: string) => void, FgClipErrorCode, RegExp][] = [
    ['a directory', (p) => mkdirSync(p), 'WEIGHTS_MALFORMED', /(weight file|shard index) is a directory \(expected a regular file\)/],
    ['a dangling symlink', (p) => symlinkSync(join(tmp, 'no-such-blob'), p), 'WEIGHTS_MISSING', /does not exist \(or is a symlink to nothing\)/],
    ['a symlink to /dev/zero', (p) => symlinkSync('/dev/zero', p), 'WEIGHTS_MALFORMED', /is a character device/],
    ['a FIFO', (p) => execFileSync('mkfifo', [p]), 'WEIGHTS_MALFORMED', /is a FIFO/],
  ];
  for (const [kind, make, code, re] of cases) {
    for (const file of ['model.safetensors', 'pytorch_model.bin', 'model.safetensors.index.json']) {
      test(`${file} as ${kind}: ${code}`, async () => {
        const dir = folder({});
        make(join(dir, file));
        await rejectsWith(loadCheckpoint(dir, cfg), code, [re], join(dir, file));
      });
    }
  }

  test('a shard named by the index that is a FIFO: WEIGHTS_MALFORMED naming the shard', async () => {
    const dir = folder({ 'model.safetensors.index.json': JSON.stringify({ weight_map: { logit_scale: 'shard-1.safetensors' } }) });
    execFileSync('mkfifo', [join(dir, 'shard-1.safetensors')]);
    await rejectsWith(loadCheckpoint(dir, cfg), 'WEIGHTS_MALFORMED', [/is a FIFO/], join(dir, 'shard-1.safetensors'));
  });
});
