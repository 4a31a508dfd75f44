/**
 * FG-CLIP 2 gradients on batches the goldens do not hold (each checkpoint's loss batch changed: other box counts,
 * long captions paired with other images, dimmer pixels, θ 0.3). fgclip2-tiny: the float64 engine's gradient equals
 * central finite differences of its own loss (relative 1e-6) for the four scales and entries of the probe, the
 * position grid, the token table and a head (tiny's tanh-gelu has a float64 kernel; small's erf-gelu runs in float32
 * inside a float64 graph, too noisy for differences). fgclip2-small: the float32 engine's loss equals the forward-only
 * loss of the inference graphs (loss.ts, an independent path: relative 1e-5) and its gradient norms the float64
 * engine's (1e-3·n + 1e-5).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';
import { l2norm } from '../../train/fixtures.js';
import { fgclip2BatchFromReferenceJson, fgclip2StageTwoLoss, readTrainingScales, type Fgclip2LossBatch } from './loss.js';
import { createFgclip2GradientEngine, type Fgclip2CheckpointEngine } from './train-engine.js';
import { loadFgclip2Model } from '../../test-util/fgclip2.js';

const THRESHOLD = 0.3;

function unseenBatch(name: string): Fgclip2LossBatch {
  const { batch } = fgclip2BatchFromReferenceJson(readGoldenV2Json<{ inputs: unknown }>(`${name}.loss.json`));
  const long = batch.textLong as readonly (readonly number[])[];
  return {
    ...batch,
    pixelValues: batch.pixelValues.map((p) => p.map((x) => 0.8 * x)),
    textLong: long.map((_, i) => long[(i + 1) % long.length]),
    boxNums: batch.boxNums.map((n, i) => (i === 0 ? n - 1 : n)),
  };
}

describe('FG-CLIP 2 gradients on unseen batches', () => {
  it('fgclip2-tiny: float64 gradient = central finite differences (rel 1e-6)', async () => {
    const e64 = await createFgclip2GradientEngine(goldenV2Path('fgclip2-tiny'), { threads: 1, dtype: 'double' });
    try {
      await finiteDifferences(e64, unseenBatch('fgclip2-tiny'));
    } finally {
      await e64.dispose();
    }
  });

  it("fgclip2-small: float32 loss = the inference graphs' loss (rel 1e-5); float32 gradient norms = float64 ones", async () => {
    const dir = goldenV2Path('fgclip2-small');
    const batch = unseenBatch('fgclip2-small');
    const e64 = await createFgclip2GradientEngine(dir, { threads: 1, dtype: 'double' });
    const e32 = await createFgclip2GradientEngine(dir, { threads: 1 });
    try {
      const r64 = await e64.compute(new Map([...e64.initialParams].map(([k, v]) => [k, Float64Array.from(v)])), batch, { threshold: THRESHOLD });
      const r32 = await e32.compute(e32.initialParams, batch, { threshold: THRESHOLD });
      const model = await loadFgclip2Model(dir, { threads: 1, graphCache: false });
      try {
        const s = await readTrainingScales(goldenV2Path('fgclip2-small', 'model.safetensors'));
        const fwd = await fgclip2StageTwoLoss(model, batch, { logitScale: model.logitScale, logitBias: model.logitBias, ...s, threshold: THRESHOLD });
        assert.ok(Math.abs(r32.loss - fwd.loss) <= 1e-5 * fwd.loss, `training graph ${r32.loss} vs inference graphs ${fwd.loss}`);
        assert.ok(Math.abs(r32.thresholdComputed - fwd.thresholdComputed) <= 1e-4 * Math.abs(fwd.thresholdComputed));
      } finally {
        await model.dispose();
      }
      for (const [k, g] of r64.grads) {
        const n = l2norm(g);
        if (n < 1e-9) continue; // k_proj biases: 0 in exact arithmetic
        assert.ok(Math.abs(l2norm(r32.grads.get(k) as Float32Array) - n) <= 1e-3 * n + 1e-5, `${k}: ${l2norm(r32.grads.get(k) as Float32Array)} vs ${n}`);
      }
    } finally {
      await e64.dispose();
      await e32.dispose();
    }
  });
});

async function finiteDifferences(e64: Fgclip2CheckpointEngine, batch: Fgclip2LossBatch): Promise<void> {
  const D = e64.config.text_config.hidden_size;
  const p = new Map([...e64.initialParams].map(([k, v]) => [k, Float64Array.from(v)]));
  const r64 = await e64.compute(p, batch, { threshold: THRESHOLD });
  const probes: [string, number][] = [
    ['logit_scale', 0],
    ['logit_bias', 0],
    ['logit_scale_finegraind', 0],
    ['logit_scale_hardneg', 0],
    ['vision_model.head.probe', 5],
    ['vision_model.embeddings.position_embedding.weight', 70],
    ['text_model.embeddings.token_embedding.weight', batch.textShort[0][0] * D + 3],
    ['boxtext_head.weight', 100],
  ];
  for (const [name, i] of probes) {
    const v = p.get(name) as Float64Array;
    const h = 1e-5;
    const x = v[i];
    v[i] = x + h;
    const up = (await e64.compute(p, batch, { threshold: THRESHOLD })).loss;
    v[i] = x - h;
    const down = (await e64.compute(p, batch, { threshold: THRESHOLD })).loss;
    v[i] = x;
    const fd = (up - down) / (2 * h);
    const g = (r64.grads.get(name) as Float64Array)[i];
    assert.ok(Math.abs(fd - g) <= 1e-6 * Math.max(Math.abs(g), 1e-3), `${name}[${i}]: autodiff ${g} vs finite differences ${fd}`);
  }
}
