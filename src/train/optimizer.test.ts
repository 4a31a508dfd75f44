import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFgClipError } from '../errors.js';
import { AdamW, clipGradNorm, isNoDecay } from './optimizer.js';
import { learningRate, lrFactor } from './schedule.js';

function expectFgClipError(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => isFgClipError(e) && e.code === code && re.test(e.message));
}

/**
 * torch.optim.AdamW's single-tensor update written out in float64 (torch/optim/adamw.py `_single_tensor_adamw`):
 *   p *= 1 - lr·wd; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
 *   p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + ε)
 */
function adamw64(p: number[], grads: number[][], o: { lr: number[]; wd: number; b1: number; b2: number; eps: number }): number[] {
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out = [...p];
  grads.forEach((g, k) => {
    const t = k + 1;
    const lr = o.lr[k];
    for (let i = 0; i < out.length; i++) {
      out[i] *= 1 - lr * o.wd;
      m[i] = o.b1 * m[i] + (1 - o.b1) * g[i];
      v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - o.b2 ** t) + o.eps;
      out[i] -= (lr / (1 - o.b1 ** t)) * (m[i] / denom);
    }
  });
  return out;
}

test('AdamW first step, hand-computed: p=1, g=0.5, lr=0.1, wd=0.01 gives 0.999 - 0.05/(0.5+1e-8) = 0.899000002 (float32, rel 1e-7)', () => {
  const opt = new AdamW({ weightDecay: 0.01 });
  const p = Float32Array.of(1);
  opt.update(new Map([['w', p]]), new Map([['w', Float32Array.of(0.5)]]), 0.1);
  assert.ok(Math.abs(p[0] - 0.899000002) <= 1e-7 * 0.899, `got ${p[0]}`);
  assert.equal(opt.step, 1);
});

test('AdamW over 5 steps with varying lr and gradients equals the float64 PyTorch formulas (rel 1e-6)', () => {
  const init = [0.3, -1.2, 2.5, 0, 1e-3];
  const grads = [
    [0.1, -0.2, 0.3, 0.0, 5],
    [-0.4, 0.1, 0.25, 1e-4, -3],
    [0.2, 0.2, -0.1, 0, 2],
    [1.5, -0.05, 0.3, -2, 0.01],
    [0.0, 0.7, -0.9, 0.5, -1],
  ];
  const lrs = [1e-2, 5e-3, 2e-2, 1e-3, 7e-3];
  const opt = new AdamW({ weightDecay: 0.1, betas: [0.8, 0.99], eps: 1e-6 });
  const p = Float32Array.from(init);
  const params = new Map([['w', p]]);
  grads.forEach((g, k) => opt.update(params, new Map([['w', Float32Array.from(g)]]), lrs[k]));
  const want = adamw64(init, grads, { lr: lrs, wd: 0.1, b1: 0.8, b2: 0.99, eps: 1e-6 });
  for (let i = 0; i < init.length; i++) assert.ok(Math.abs(p[i] - want[i]) <= 1e-6 * Math.max(1e-3, Math.abs(want[i])), `${i}: ${p[i]} vs ${want[i]}`);
});

test("AdamW decay groups as the authors' trainer: LayerNorm parameters and biases do not decay, weights, embeddings and the logit scales do", () => {
  for (const n of [
    'vision_model.pre_layrnorm.weight',
    'vision_model.encoder.layers.3.layer_norm1.weight',
    'text_model.final_layer_norm.bias',
    'vision_model.post_layernorm.weight',
    'text_model.encoder.layers.0.mlp.fc1.bias',
    'vision_model.encoder.layers.0.self_attn.k_proj.bias',
  ]) {
    assert.equal(isNoDecay(n), true, n);
  }
  for (const n of [
    'logit_scale',
    'logit_scale_finegraind',
    'logit_scale_hardneg',
    'visual_projection.weight',
    'text_model.embeddings.token_embedding.weight',
    'vision_model.embeddings.class_embedding',
    'vision_model.encoder.layers.0.mlp.fc1.weight',
  ]) {
    assert.equal(isNoDecay(n), false, n);
  }
  // zero gradient, lr 1, wd 0.5: a decaying parameter halves (the Adam part is 0/(0+ε) = 0), a no-decay one stays
  const opt = new AdamW({ weightDecay: 0.5 });
  const a = Float32Array.of(2);
  const b = Float32Array.of(2);
  opt.update(
    new Map([
      ['logit_scale', a],
      ['text_model.final_layer_norm.weight', b],
    ]),
    new Map([
      ['logit_scale', Float32Array.of(0)],
      ['text_model.final_layer_norm.weight', Float32Array.of(0)],
    ]),
    1,
  );
  assert.deepEqual([a[0], b[0]], [1, 2]);
});

test('AdamW: parameters without a gradient (frozen) are untouched and have no state; textModelLrScale scales text_model.* only', () => {
  const opt = new AdamW({ weightDecay: 0, textModelLrScale: 0.5 });
  const frozen = Float32Array.of(7);
  const v = Float32Array.of(1);
  const t = Float32Array.of(1);
  const params = new Map([
    ['frozen', frozen],
    ['visual_projection.weight', v],
    ['text_model.x.weight', t],
  ]);
  opt.update(
    params,
    new Map([
      ['visual_projection.weight', Float32Array.of(1)],
      ['text_model.x.weight', Float32Array.of(1)],
    ]),
    0.1,
  );
  assert.equal(frozen[0], 7);
  assert.ok(!opt.state().expAvg.has('frozen'));
  // first Adam step moves by lr·g/|g| (up to ε): 0.1 and 0.05
  assert.ok(Math.abs(1 - v[0] - 0.1) < 1e-6 && Math.abs(1 - t[0] - 0.05) < 1e-6, `${v[0]} ${t[0]}`);
});

test('AdamW state round trip: saving after 2 steps and continuing in a new optimizer equals 4 steps straight (bit-exact)', () => {
  const g = (k: number) => new Map([['w', Float32Array.from([0.1 * k, -0.3, 0.05 * k * k])]]);
  const straight = new AdamW();
  const p1 = Float32Array.from([1, 2, 3]);
  for (let k = 0; k < 4; k++) straight.update(new Map([['w', p1]]), g(k), 1e-2);
  const first = new AdamW();
  const p2 = Float32Array.from([1, 2, 3]);
  for (let k = 0; k < 2; k++) first.update(new Map([['w', p2]]), g(k), 1e-2);
  const second = new AdamW();
  second.load(first.state());
  for (let k = 2; k < 4; k++) second.update(new Map([['w', p2]]), g(k), 1e-2);
  assert.deepEqual(Array.from(p2), Array.from(p1));
  assert.equal(second.step, 4);
});

test('AdamW errors: bad options, unknown gradient, length mismatch, bad lr are INPUT_INVALID', () => {
  expectFgClipError(() => new AdamW({ betas: [1, 0.999] }), 'INPUT_INVALID', /beta1/);
  expectFgClipError(() => new AdamW({ weightDecay: -1 }), 'INPUT_INVALID', /weightDecay/);
  const opt = new AdamW();
  expectFgClipError(() => opt.update(new Map(), new Map([['x', Float32Array.of(1)]]), 1), 'INPUT_INVALID', /not a parameter/);
  expectFgClipError(() => opt.update(new Map([['x', Float32Array.of(1, 2)]]), new Map([['x', Float32Array.of(1)]]), 1), 'INPUT_INVALID', /1 values/);
  expectFgClipError(() => opt.update(new Map(), new Map(), Number.NaN), 'INPUT_INVALID', /learning rate/);
});

test('clipGradNorm: global norm over all tensors, scaled by max/(norm+1e-6) when above, untouched when below (float32, rel 1e-7)', () => {
  const grads = new Map([
    ['a', Float32Array.of(3)],
    ['b', Float32Array.of(0, 4)],
  ]);
  assert.equal(clipGradNorm(grads, 1), 5);
  const c = 1 / (5 + 1e-6);
  assert.ok(Math.abs(grads.get('a')![0] - 3 * c) < 1e-7 && Math.abs(grads.get('b')![1] - 4 * c) < 1e-7);
  const small = new Map([['a', Float32Array.of(0.3, 0.4)]]);
  assert.equal(Math.fround(clipGradNorm(small, 1)), Math.fround(0.5));
  assert.deepEqual(Array.from(small.get('a')!), [Math.fround(0.3), Math.fround(0.4)]);
  const inf = new Map([['a', Float32Array.of(3, 4)]]);
  clipGradNorm(inf, Infinity);
  assert.deepEqual(Array.from(inf.get('a')!), [3, 4]);
});

test('cosine schedule with warmup = transformers get_cosine_schedule_with_warmup: 0 at step 0, linear to the peak, half at mid-decay, 0 at the end', () => {
  const o = { lr: 1e-3, warmupSteps: 10, totalSteps: 110 };
  assert.equal(learningRate(0, o), 0);
  assert.ok(Math.abs(learningRate(5, o) - 5e-4) < 1e-15);
  assert.equal(learningRate(10, o), 1e-3);
  assert.ok(Math.abs(learningRate(60, o) - 5e-4) < 1e-15);
  assert.ok(Math.abs(learningRate(35, o) - 1e-3 * 0.5 * (1 + Math.cos(Math.PI * 0.25))) < 1e-15);
  assert.ok(learningRate(110, o) < 1e-18);
  assert.equal(lrFactor(3, { lr: 1, totalSteps: 5, kind: 'constant' }), 1);
  assert.equal(lrFactor(4, { lr: 1, totalSteps: 8, warmupSteps: 0, kind: 'linear' }), 0.5);
});
