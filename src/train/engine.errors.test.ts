/** Gradient engine error paths: each is a typed FgClipError with a message naming the problem, never a crash. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { goldenPath, readGoldenJson } from '../test-util/goldens.js';
import { batchFromReferenceJson } from './batch.js';
import { createGradientEngine, type CheckpointGradientEngine } from './engine.js';
import type { TrainBatch } from './types.js';

let engine: CheckpointGradientEngine;
let batch: TrainBatch;
before(async () => {
  engine = await createGradientEngine(goldenPath('fgclip-tiny'), { threads: 1 });
  batch = batchFromReferenceJson(readGoldenJson('fgclip-tiny.loss.json'), engine.config).batch;
});
after(() => engine.dispose());

const rejects = (p: Promise<unknown>, code: string, re: RegExp) =>
  assert.rejects(p, (e: Error & { code?: string }) => e.name === 'FgClipError' && e.code === code && re.test(e.message));

test('bad parameters, requests and batches are INPUT_INVALID errors naming the problem', async () => {
  const params = new Map(engine.initialParams);
  params.delete('logit_scale');
  await rejects(engine.compute(params, batch, { stage: 2 }), 'INPUT_INVALID', /parameter logit_scale is missing/);
  const short = new Map(engine.initialParams).set('visual_projection.weight', new Float32Array(3));
  await rejects(engine.compute(short, batch, { stage: 2 }), 'INPUT_INVALID', /visual_projection.weight has 3 values \(expected 1152/);
  await rejects(engine.compute(engine.initialParams, batch, { stage: 3 as 1 }), 'INPUT_INVALID', /stage must be 1 or 2/);
  await rejects(engine.compute(engine.initialParams, batch, { stage: 2, chunkSize: 0 }), 'INPUT_INVALID', /chunkSize must be a positive integer/);
  await rejects(
    engine.compute(engine.initialParams, batch, { stage: 2, frozen: new Set(['nope']) }),
    'INPUT_INVALID',
    /frozen parameter nope is not a parameter/,
  );
  await rejects(engine.compute(engine.initialParams, batch, { stage: 2, regionWeight: Number.NaN }), 'INPUT_INVALID', /regionWeight must be a finite number/);
  await rejects(engine.compute(engine.initialParams, { ...batch, boxes: undefined }, { stage: 2 }), 'INPUT_INVALID', /stage 2 needs boxes/);
  await rejects(
    engine.compute(engine.initialParams, { ...batch, boxTexts: batch.boxTexts!.slice(1) }, { stage: 2 }),
    'INPUT_INVALID',
    /boxTexts has 2 rows for 3 boxes/,
  );
  await rejects(
    engine.compute(engine.initialParams, { ...batch, pixels: batch.pixels.subarray(1) }, { stage: 2 }),
    'INPUT_INVALID',
    /pixels: expected 6144 float32 values/,
  );
  await rejects(engine.compute(engine.initialParams, { ...batch, imageSize: 64 }, { stage: 1 }), 'INPUT_INVALID', /images are 64px, the model takes 32px/);
  await rejects(
    engine.compute(engine.initialParams, batch, { stage: 2, into: new Map([['nope', new Float32Array(1)]]) }),
    'INPUT_INVALID',
    /into names nope, which is not a parameter/,
  );
  await rejects(
    engine.compute(engine.initialParams, batch, { stage: 2, into: new Map([['logit_scale', new Float32Array(2)]]) }),
    'INPUT_INVALID',
    /into buffer of logit_scale must be a Float32Array of 1 values/,
  );
  await rejects(
    engine.compute(engine.initialParams, batch, { stage: 2, into: new Map([['logit_scale', engine.initialParams.get('logit_scale')!]]) }),
    'INPUT_INVALID',
    /into buffer of logit_scale is the parameter's own memory/,
  );
});

test('loss weights are options: region and hard-negative weights 0 give the stage-1 loss', async () => {
  const s1 = await engine.compute(engine.initialParams, batch, { stage: 1 });
  const s2 = await engine.compute(engine.initialParams, batch, { stage: 2, regionWeight: 0, hardNegativeWeight: 0 });
  assert.ok(Math.abs(s1.loss - s2.loss) <= 1e-6 * s1.loss);
  assert.ok(s2.parts.region > 0 && s2.parts.hard_negative > 0, 'parts are still reported');
});

test('a disposed engine refuses work with DISPOSED', async () => {
  const e = await createGradientEngine(goldenPath('fgclip-tiny'), { threads: 1 });
  await e.dispose();
  await rejects(e.compute(e.initialParams, batch, { stage: 1 }), 'DISPOSED', /already disposed/);
});
