/**
 * FG-CLIP 2 stage-2 loss and gradients through our autodiff vs the float64 reference (goldens-v2
 * fgclip2-{tiny,small}.loss.json), at the README's tolerances: loss, every part and threshold_computed relative 1e-4;
 * every gradient norm abs ≤ 1e-3·norm + 1e-5; every grad_first value abs ≤ 1e-4·norm + 1e-6; the attention k biases
 * (exactly 0 in exact arithmetic) ≤ 1e-6 · the largest gradient norm; no gradient for dense_feature_head.probe.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isFgClipError } from '../../errors.js';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';
import { l2norm } from '../../train/fixtures.js';
import { fgclip2BatchFromReferenceJson } from './loss.js';
import { createFgclip2GradientEngine, type Fgclip2CheckpointEngine } from './train-engine.js';

interface LossGolden {
  loss: number;
  parts: Record<string, number>;
  threshold_in: number;
  threshold_computed: number;
  threshold_out: number;
  grad_norms: Record<string, number>;
  grad_first: Record<string, number[]>;
  params_without_grad: string[];
  zero_in_exact_arithmetic: string[];
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

for (const name of ['fgclip2-tiny', 'fgclip2-small']) {
  describe(`${name}: stage-2 loss and every gradient vs the float64 reference`, () => {
    const g = readGoldenV2Json<LossGolden>(`${name}.loss.json`);
    let engine: Fgclip2CheckpointEngine;
    before(async () => {
      engine = await createFgclip2GradientEngine(goldenV2Path(name), { threads: 1 });
    });
    after(async () => engine?.dispose());

    it('loss and parts (rel 1e-4), threshold (rel 1e-4), every gradient norm and grad_first value at README tolerances', async () => {
      const { batch, threshold } = fgclip2BatchFromReferenceJson(g);
      assert.equal(threshold, g.threshold_in);
      const r = await engine.compute(engine.initialParams, batch, { threshold });
      assert.ok(rel(r.loss, g.loss) <= 1e-4, `loss ${r.loss} vs ${g.loss}`);
      for (const [k, v] of Object.entries(g.parts))
        assert.ok(rel(r.parts[k as keyof typeof r.parts], v) <= 1e-4, `${k}: ${r.parts[k as keyof typeof r.parts]} vs ${v}`);
      assert.ok(rel(r.thresholdComputed, g.threshold_computed) <= 1e-4, `threshold ${r.thresholdComputed} vs ${g.threshold_computed}`);
      assert.ok(Math.abs(r.thresholdOut - g.threshold_out) <= 1e-4 * Math.max(1, g.threshold_out));
      assert.deepEqual([...r.grads.keys()].sort(), Object.keys(g.grad_norms).sort(), 'a gradient for exactly the parameters the reference gives one');
      for (const p of g.params_without_grad) assert.ok(!r.grads.has(p), p);
      const largest = Math.max(...Object.values(g.grad_norms));
      for (const [k, want] of Object.entries(g.grad_norms)) {
        const got = r.grads.get(k) as Float32Array;
        if (g.zero_in_exact_arithmetic.includes(k)) {
          assert.ok(l2norm(got) <= 1e-6 * largest, `${k}: norm ${l2norm(got)} should be ~0`);
          continue;
        }
        assert.ok(Math.abs(l2norm(got) - want) <= 1e-3 * want + 1e-5, `${k}: norm ${l2norm(got)} vs ${want}`);
        g.grad_first[k].forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * want + 1e-6, `${k}[${i}]: ${got[i]} vs ${v}`));
      }
    });
  });
}

describe('FG-CLIP 2 gradient engine: frozen parameters and bad requests', () => {
  it('frozen parameters get no gradient and leave the others unchanged; bad params/threshold are INPUT_INVALID', async () => {
    const g = readGoldenV2Json<LossGolden>('fgclip2-tiny.loss.json');
    const engine = await createFgclip2GradientEngine(goldenV2Path('fgclip2-tiny'), { threads: 1 });
    try {
      const { batch, threshold } = fgclip2BatchFromReferenceJson(g);
      const full = await engine.compute(engine.initialParams, batch, { threshold });
      const frozen = new Set(['text_model.embeddings.token_embedding.weight', 'vision_model.head.probe']);
      const r = await engine.compute(engine.initialParams, batch, { threshold, frozen });
      for (const f of frozen) assert.ok(!r.grads.has(f), f);
      assert.equal(r.loss, full.loss);
      const a = full.grads.get('boxtext_head.weight') as Float32Array;
      const b = r.grads.get('boxtext_head.weight') as Float32Array;
      assert.ok(Math.abs(l2norm(a) - l2norm(b)) <= 1e-6 * l2norm(a));
      const invalid = (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID';
      await assert.rejects(engine.compute(engine.initialParams, batch, { threshold: Number.NaN }), invalid);
      await assert.rejects(engine.compute(engine.initialParams, batch, { frozen: new Set(['no.such.tensor']) }), invalid);
      const missing = new Map(engine.initialParams);
      missing.delete('logit_bias');
      await assert.rejects(engine.compute(missing, batch), (e: unknown) => invalid(e) && /logit_bias/.test((e as Error).message));
      const badIds = { ...batch, textShort: batch.textShort.map((r) => r.map(() => 99999)) };
      await assert.rejects(engine.compute(engine.initialParams, badIds), (e: unknown) => invalid(e) && /vocabulary/.test((e as Error).message));
    } finally {
      await engine.dispose();
    }
  });
});
