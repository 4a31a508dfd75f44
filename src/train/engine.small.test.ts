/**
 * The gradient engine on a checkpoint the loss golden does not cover (fgclip-small: F16-stored, quick_gelu, 3 layers,
 * 6×6 grid) and a batch built here:
 *  - the training forward reproduces the reference's inference features (image, short and long text, RoIAlign
 *    regions) at the goldens' feature tolerance (relative L2 ≤ 1e-4);
 *  - float64 gradients agree with central finite differences of the float64 loss along random directions
 *    (relative 1e-6), per loss part;
 *  - the float32 engine agrees with the float64 one (loss rel 1e-5; every gradient |Δ| ≤ 1e-3·‖g‖ + 1e-5);
 *  - the two-pass chunked scheme equals the single pass (float64: every parameter rel 1e-9; float32: loss and
 *    every gradient ‖Δ‖ ≤ 1e-5·‖g‖ + 1e-6, the floor for gradients that vanish in exact arithmetic).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { seededRandom } from '../test-util/gradcheck.js';
import { goldenPath, relL2 } from '../test-util/goldens.js';
import { createGradientEngine, type CheckpointGradientEngine, type RawGradientResult } from './engine.js';
import { l2norm as norm, smallBatch } from './fixtures.js';

let f32: CheckpointGradientEngine;
let f64: CheckpointGradientEngine;
const { batch, cases } = smallBatch();
let single64: RawGradientResult;
let single32: RawGradientResult;

before(async () => {
  f32 = await createGradientEngine(goldenPath('fgclip-small'), { threads: 1 });
  f64 = await createGradientEngine(goldenPath('fgclip-small'), { threads: 1, dtype: 'double' });
  single64 = await f64.computeRaw(f64.initialParams, batch, { stage: 2 });
  single32 = await f32.computeRaw(f32.initialParams, batch, { stage: 2 });
});
after(async () => {
  await f32.dispose();
  await f64.dispose();
});

const rows = (a: ArrayLike<number>, n: number, P: number) => Array.from({ length: n }, (_, i) => Array.prototype.slice.call(a, i * P, (i + 1) * P) as number[]);

test('fgclip-small: the training forward gives the reference inference features (image, short, long, regions; rel L2 ≤ 1e-4)', async () => {
  const P = 64;
  const e = await f32.embed(f32.initialParams, batch, 2, 3);
  rows(e.image, 4, P).forEach((r, i) => assert.ok(relL2(r, cases.image.features[i]) <= 1e-4, `image ${i}`));
  rows(e.long, 4, P).forEach((r, i) => assert.ok(relL2(r, cases.text_long.features[i]) <= 1e-4, `long ${i}`));
  rows(e.short, 4, P).forEach((r, i) => assert.ok(relL2(r, cases.text_short.features[i]) <= 1e-4, `short ${i}`));
  rows(e.boxRegion, 12, P).forEach((r, i) => assert.ok(relL2(r, cases.roi.features[i]) <= 1e-4, `region ${i}: ${relL2(r, cases.roi.features[i])}`));
});

test('fgclip-small float64: gradients match central finite differences of the loss along random directions (rel 1e-6)', async () => {
  const rnd = seededRandom(11);
  const params = f64.initialParams;
  for (let k = 0; k < 2; k++) {
    // a random direction over every parameter, scaled per tensor to its size so no tensor dominates
    const dir = new Map<string, Float64Array>();
    for (const [n, p] of params)
      dir.set(
        n,
        Float64Array.from(p, () => rnd() / Math.sqrt(p.length)),
      );
    let analytic = 0;
    for (const [n, g] of single64.grads) {
      const d = dir.get(n)!;
      for (let i = 0; i < g.length; i++) analytic += g[i] * d[i];
    }
    const h = 1e-4;
    const shifted = (s: number) => new Map([...params].map(([n, p]) => [n, Float64Array.from(p, (v, i) => v + s * h * dir.get(n)![i])]));
    const lp = (await f64.computeRaw(shifted(1), batch, { stage: 2 })).loss;
    const lm = (await f64.computeRaw(shifted(-1), batch, { stage: 2 })).loss;
    const fd = (lp - lm) / (2 * h);
    assert.ok(Math.abs(fd - analytic) <= 1e-6 * Math.abs(fd), `direction ${k}: analytic ${analytic}, finite difference ${fd}`);
  }
});

test('fgclip-small: float32 engine agrees with float64 (loss rel 1e-5, every gradient |Δ| ≤ 1e-3·‖g‖ + 1e-5)', () => {
  assert.ok(Math.abs(single32.loss - single64.loss) <= 1e-5 * single64.loss, `${single32.loss} vs ${single64.loss}`);
  for (const [n, g64] of single64.grads) {
    const g32 = single32.grads.get(n)!;
    const gn = norm(g64);
    let d = 0;
    for (let i = 0; i < g64.length; i++) d = Math.max(d, Math.abs(g32[i] - g64[i]));
    assert.ok(d <= 1e-3 * gn + 1e-5, `${n}: max |Δ| ${d}, ‖g‖ ${gn}`);
  }
});

test('two-pass chunked = single pass: float64 (chunks 1 and 3, every parameter rel 1e-9) and float32 (chunk 2, rel 1e-5)', async () => {
  for (const chunkSize of [1, 3]) {
    const r = await f64.computeRaw(f64.initialParams, batch, { stage: 2, chunkSize });
    assert.ok(Math.abs(r.loss - single64.loss) <= 1e-12 * single64.loss);
    for (const [n, g] of single64.grads)
      assert.ok(relL2(r.grads.get(n)!, g) <= 1e-9 || norm(g) < 1e-12, `chunk ${chunkSize} ${n}: ${relL2(r.grads.get(n)!, g)}`);
  }
  const r = await f32.computeRaw(f32.initialParams, batch, { stage: 2, chunkSize: 2 });
  assert.ok(Math.abs(r.loss - single32.loss) <= 1e-5 * single32.loss);
  for (const [k, v] of Object.entries(single32.parts)) assert.ok(Math.abs(r.parts[k as keyof typeof r.parts] - v) <= 1e-5 * Math.abs(v) + 1e-7, k);
  for (const [n, g] of single32.grads) {
    const c = r.grads.get(n)!;
    let d = 0;
    for (let i = 0; i < g.length; i++) d += (c[i] - g[i]) ** 2;
    // absolute floor 1e-6 for gradients that vanish in exact arithmetic (attention k_proj biases: ~1e-7 of float32 noise)
    assert.ok(Math.sqrt(d) <= 1e-5 * norm(g) + 1e-6, `chunk 2 ${n}: ‖Δ‖ ${Math.sqrt(d)} vs ‖g‖ ${norm(g)}`);
  }
});

test('stage 1 (ITC long + short only): chunked = single pass, and region/hard parts are 0 with zero stage-2 scale gradients', async () => {
  const s = await f64.computeRaw(f64.initialParams, batch, { stage: 1 });
  const c = await f64.computeRaw(f64.initialParams, batch, { stage: 1, chunkSize: 1 });
  assert.equal(s.parts.region, 0);
  assert.equal(s.parts.hard_negative, 0);
  assert.ok(Math.abs(s.loss - (s.parts.itc_long + s.parts.itc_short)) <= 1e-12 * s.loss);
  assert.ok(Math.abs(c.loss - s.loss) <= 1e-12 * s.loss);
  assert.equal(norm(s.grads.get('logit_scale_finegraind')!), 0);
  assert.equal(norm(s.grads.get('logit_scale_hardneg')!), 0);
  for (const [n, g] of s.grads) assert.ok(relL2(c.grads.get(n)!, g) <= 1e-9 || norm(g) < 1e-12, n);
});

test('frozen parameters get no gradient and the others are unchanged', async () => {
  const frozen = new Set(['text_model.embeddings.token_embedding.weight', 'vision_model.encoder.layers.0.mlp.fc1.weight']);
  const r = await f64.computeRaw(f64.initialParams, batch, { stage: 2, frozen });
  for (const n of frozen) assert.equal(r.grads.has(n), false);
  for (const [n, g] of single64.grads) if (!frozen.has(n)) assert.ok(relL2(r.grads.get(n)!, g) <= 1e-12 || norm(g) < 1e-12, n);
});
