import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { goldenPath } from '../test-util/goldens.js';
import { syntheticData, TEST_SPEC } from '../test-util/train-fixtures.js';
import { readSafetensors } from '../weights/index.js';
import { defaultEngineFactory } from './default-engine.js';
import { Trainer, type TrainerOptions } from './trainer.js';

let root: string;
let data: { train: string; heldOut: string };
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'fgclip-trainer-engine-'));
  data = await syntheticData(join(root, 'data'), 8, 2);
});
after(() => rmSync(root, { recursive: true, force: true }));

const opts = (out: string, extra: Partial<TrainerOptions> = {}): TrainerOptions => ({
  init: { spec: TEST_SPEC, tokenizerFrom: goldenPath('fgclip-tiny') },
  data: data.train,
  out,
  stage: 2,
  batchSize: 4,
  steps: 3,
  lr: 1e-3,
  warmupSteps: 1,
  saveEvery: 100,
  workers: 1,
  engine: defaultEngineFactory({ threads: 1 }),
  ...extra,
});

test('with the real gradient engine (stage 2, all four loss parts): the loss is finite and moves, and 3 steps straight = 1 step + resume + 2 steps (weights within 1e-6)', async () => {
  const straight = await new Trainer(opts(join(root, 'a'))).run();
  const log = readFileSync(join(root, 'a', 'train-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { loss: number; parts: Record<string, number> });
  assert.equal(log.length, 3);
  assert.ok(
    log.every((s) => Number.isFinite(s.loss) && s.parts.region > 0 && s.parts.hard_negative > 0),
    JSON.stringify(log),
  );
  const out = join(root, 'b');
  const first = new Trainer(opts(out, { afterStep: (s) => s === 1 && first.requestStop() }));
  assert.equal((await first.run()).steps, 1);
  const resumed = await new Trainer(opts(out)).run();
  assert.equal(resumed.steps, 3);
  const a = await readSafetensors(join(straight.final!, 'model.safetensors'));
  const b = await readSafetensors(join(resumed.final!, 'model.safetensors'));
  let m = 0;
  for (const [k, t] of a) {
    const u = b.get(k)!.data;
    for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i] - u[i]));
  }
  assert.ok(m <= 1e-6, `max |Δw| = ${m}`);
});
