/**
 * The reference's stage-2 loss of fgclip-tiny on the golden batch (../shared/goldens/fgclip-tiny.loss.json),
 * computed by the training graphs in float32, at the README's tolerances: loss and parts relative 1e-4; every
 * gradient norm |Δ| ≤ 1e-3·norm + 1e-5; every grad_first value |Δ| ≤ 1e-4·(that parameter's gradient norm) + 1e-6.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { goldenPath, readGoldenJson } from '../test-util/goldens.js';
import { batchFromReferenceJson } from './batch.js';
import { createGradientEngine, type CheckpointGradientEngine } from './engine.js';
import { l2norm as norm } from './fixtures.js';
import type { GradientResult, TrainBatch } from './types.js';

interface LossGolden {
  loss: number;
  parts: Record<string, number>;
  grad_norms: Record<string, number>;
  grad_first: Record<string, number[]>;
}

const golden = readGoldenJson<LossGolden>('fgclip-tiny.loss.json');
let engine: CheckpointGradientEngine;
let batch: TrainBatch;

before(async () => {
  engine = await createGradientEngine(goldenPath('fgclip-tiny'), { threads: 1 });
  batch = batchFromReferenceJson(golden, engine.config).batch;
});
after(() => engine.dispose());

function assertMatchesGolden(r: GradientResult, what: string): void {
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  assert.ok(rel(r.loss, golden.loss) <= 1e-4, `${what}: loss ${r.loss} vs ${golden.loss}`);
  for (const [k, v] of Object.entries(golden.parts))
    assert.ok(rel(r.parts[k as keyof typeof r.parts], v) <= 1e-4, `${what}: part ${k} ${r.parts[k as keyof typeof r.parts]} vs ${v}`);
  assert.equal(r.grads.size, Object.keys(golden.grad_norms).length, `${what}: one gradient per parameter`);
  for (const [name, gn] of Object.entries(golden.grad_norms)) {
    const g = r.grads.get(name);
    assert.ok(g, `${what}: no gradient for ${name}`);
    const n = norm(g);
    assert.ok(Math.abs(n - gn) <= 1e-3 * gn + 1e-5, `${what}: |grad ${name}| = ${n}, golden ${gn}`);
    golden.grad_first[name].forEach((want, i) => {
      assert.ok(Math.abs(g[i] - want) <= 1e-4 * gn + 1e-6, `${what}: grad ${name}[${i}] = ${g[i]}, golden ${want}`);
    });
  }
}

test('fgclip-tiny stage-2 loss, its four parts, every gradient norm and every grad_first value match the reference (single pass, README tolerances)', async () => {
  assertMatchesGolden(await engine.compute(engine.initialParams, batch, { stage: 2 }), 'single pass');
});

test('the two-pass chunked scheme (chunks of 1 image) matches the same golden', async () => {
  assertMatchesGolden(await engine.compute(engine.initialParams, batch, { stage: 2, chunkSize: 1 }), 'chunked');
});

test('prepare() compiles the single-pass and forward sessions ahead; the step that follows still matches the golden', async () => {
  const e = await createGradientEngine(goldenPath('fgclip-tiny'), { threads: 1 });
  try {
    await e.prepare(batch, 2);
    assertMatchesGolden(await e.compute(e.initialParams, batch, { stage: 2 }), 'after prepare');
  } finally {
    await e.dispose();
  }
});

test("gradients written into caller buffers (GradientRequest.into) holding a previous step's garbage: the same golden, single pass and chunked, in those very buffers", async () => {
  for (const chunkSize of [undefined, 1]) {
    const into = new Map([...engine.initialParams].map(([n, p]) => [n, new Float32Array(p.length).fill(Number.NaN)]));
    const r = await engine.compute(engine.initialParams, batch, { stage: 2, chunkSize, into });
    assertMatchesGolden(r, `into, chunkSize ${chunkSize ?? 'batch'}`);
    for (const [n, g] of r.grads) assert.equal(g, into.get(n), `${n}: result is the caller's buffer (chunkSize ${chunkSize ?? 'batch'})`);
    // stage 1 into the same buffers: the stage-2-only scales get exact zeros, not the previous values
    const s1 = await engine.compute(engine.initialParams, batch, { stage: 1, chunkSize, into });
    assert.equal(s1.grads.get('logit_scale_hardneg')![0], 0);
    assert.equal(s1.grads.get('logit_scale_finegraind')![0], 0);
  }
});
