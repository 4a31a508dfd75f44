import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig, loadPreprocessConfig } from '../config/index.js';
import { isFgClipError } from '../errors.js';
import { goldenPath } from '../test-util/goldens.js';
import { TEST_SPEC } from '../test-util/train-fixtures.js';
import { loadCheckpoint } from '../families/fgclip/checkpoint.js';
import { checkpointName, listCheckpoints, pruneCheckpoints, removeStaleTemp, writeCheckpointAtomic } from './checkpoint-writer.js';
import { initParameters, smallConfig } from './init.js';

const root = mkdtempSync(join(tmpdir(), 'fgclip-ckpt-'));
after(() => rmSync(root, { recursive: true, force: true }));
const config = smallConfig(TEST_SPEC);
const params = new Map([...initParameters(config, 3)].map(([k, t]) => [k, t.data]));

test('F16 model folder: loads back within half precision (rel 1e-3) and F32 bit-exact', async () => {
  const preprocess = await loadPreprocessConfig(root, config, () => undefined);
  for (const dtype of ['F32', 'F16'] as const) {
    const dir = join(root, `m-${dtype}`);
    writeCheckpointAtomic(dir, { config, preprocess, params, tokenizerDir: goldenPath('fgclip-tiny'), dtype });
    const ck = await loadCheckpoint(dir, await loadConfig(dir));
    for (const [k, v] of params) {
      const got = ck.tensors.get(k)!.data;
      for (let i = 0; i < v.length; i++) {
        const ok = dtype === 'F32' ? got[i] === v[i] : Math.abs(got[i] - v[i]) <= 1e-3 * Math.abs(v[i]) + 1e-7;
        if (!ok) assert.fail(`${dtype} ${k}[${i}]: ${got[i]} vs ${v[i]}`);
      }
    }
  }
});

test('a failing write (no tokenizer files) leaves the existing checkpoint untouched and no temporary folder', async () => {
  const preprocess = await loadPreprocessConfig(root, config, () => undefined);
  const out = join(root, 'runs');
  const target = join(out, checkpointName(5));
  writeCheckpointAtomic(
    target,
    { config, preprocess, params, tokenizerDir: goldenPath('fgclip-tiny') },
    { optimizer: { step: 5, expAvg: new Map(), expAvgSq: new Map() }, state: { step: 5 } },
  );
  const before = readFileSync(join(target, 'model.safetensors'));
  const empty = join(root, 'empty');
  mkdirSync(empty);
  assert.throws(
    () =>
      writeCheckpointAtomic(
        target,
        { config, preprocess, params, tokenizerDir: empty },
        { optimizer: { step: 6, expAvg: new Map(), expAvgSq: new Map() }, state: { step: 6 } },
      ),
    (e: unknown) => isFgClipError(e) && e.code === 'TOKENIZER_INVALID',
  );
  assert.deepEqual(readFileSync(join(target, 'model.safetensors')), before);
  assert.deepEqual(readdirSync(out), [checkpointName(5)]);
  // a stale temporary folder (as a kill -9 leaves) is removed and never listed as a checkpoint
  mkdirSync(join(out, '.tmp-checkpoint-9-123-456'));
  assert.deepEqual(
    listCheckpoints(out).map((c) => c.step),
    [5],
  );
  assert.deepEqual(removeStaleTemp(out), ['.tmp-checkpoint-9-123-456']);
  for (const s of [7, 9])
    writeCheckpointAtomic(
      join(out, checkpointName(s)),
      { config, preprocess, params, tokenizerDir: goldenPath('fgclip-tiny') },
      { optimizer: { step: s, expAvg: new Map(), expAvgSq: new Map() }, state: { step: s } },
    );
  pruneCheckpoints(out, 2);
  assert.deepEqual(
    listCheckpoints(out).map((c) => c.step),
    [9, 7],
  );
  assert.ok(!existsSync(target));
});

test('kill -9 leftovers: a half-pruned checkpoint is never listed and is removed; a folder moved aside for replacement is put back when its replacement never arrived', async () => {
  const preprocess = await loadPreprocessConfig(root, config, () => undefined);
  const out = join(root, 'leftovers');
  const write = (s: number) =>
    writeCheckpointAtomic(
      join(out, checkpointName(s)),
      { config, preprocess, params, tokenizerDir: goldenPath('fgclip-tiny') },
      { optimizer: { step: s, expAvg: new Map(), expAvgSq: new Map() }, state: { step: s } },
    );
  for (const s of [3, 4, 5]) write(s);
  // prune renames before deleting: a kill during the delete leaves a temporary name, with or without config.json
  pruneCheckpoints(out, 2);
  assert.deepEqual(readdirSync(out).sort(), [checkpointName(4), checkpointName(5)]);
  renameSync(join(out, checkpointName(4)), join(out, '.tmp-prune-checkpoint-4-77-88'));
  unlinkSync(join(out, '.tmp-prune-checkpoint-4-77-88', 'config.json'));
  assert.deepEqual(
    listCheckpoints(out).map((c) => c.step),
    [5],
  );
  // a replacement of checkpoint-5 killed between its two renames: the complete old folder is aside, the name is free
  renameSync(join(out, checkpointName(5)), join(out, '.tmp-old-checkpoint-5-77-99'));
  assert.deepEqual(listCheckpoints(out), []);
  assert.deepEqual(removeStaleTemp(out).sort(), ['.tmp-old-checkpoint-5-77-99', '.tmp-prune-checkpoint-4-77-88']);
  assert.deepEqual(readdirSync(out), [checkpointName(5)]);
  assert.deepEqual(
    listCheckpoints(out).map((c) => c.step),
    [5],
  );
  const back = await loadCheckpoint(join(out, checkpointName(5)), await loadConfig(join(out, checkpointName(5))));
  assert.ok(back.tensors.size > 0);
  // when the replacement did arrive, the moved-aside copy is stale and removed
  write(5);
  mkdirSync(join(out, '.tmp-old-checkpoint-5-1-2'));
  assert.deepEqual(removeStaleTemp(out), ['.tmp-old-checkpoint-5-1-2']);
  assert.deepEqual(readdirSync(out), [checkpointName(5)]);
});
