/**
 * The recomputing training ops against central finite differences through ONNX Runtime: each is followed by a
 * MatMul, whose weight gradient reads the op's output, so the recomputed value is what the reverse pass uses.
 * float64, relative 1e-6 — except the erf gelu (no float64 Erf kernel in onnxruntime-node), float32, rel 2e-3.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Activation } from '../config/types.js';
import { gradCheck, type CheckInput } from '../test-util/gradcheck.js';
import { layerNormalization, linearTransposed, mlpActivation } from './recompute-ops.js';

const X = (name: string, shape: number[]): CheckInput => ({ name, shape, dims: shape, diff: true });

for (const [act, dtype, tol] of [
  ['quick_gelu', 'double', 1e-6],
  ['gelu_new', 'double', 1e-6],
  ['gelu_pytorch_tanh', 'double', 1e-6],
  ['gelu', 'float', 2e-3],
] as const) {
  test(`${act} as a composite op with a recomputed output: x, fc1 and fc2 weight gradients match finite differences (${dtype}, rel ${tol})`, async () => {
    const r = await gradCheck(dtype, [X('x', [2, 3, 4]), X('w1', [4, 6]), X('w2', [6, 5])], (t, x) =>
      t.matmul(mlpActivation(t, 'mlp', t.matmul(x.x, x.w1), act as Activation), x.w2),
    );
    assert.ok(r.worst <= tol, `${act}: worst relative error ${r.worst}: ${JSON.stringify([...r.pairs])}`);
  });
}

test('LayerNormalization with a recomputed output: x, weight, bias and the next weight gradients match finite differences (float64, rel 1e-6)', async () => {
  const r = await gradCheck('double', [X('x', [2, 3, 6]), X('w', [6]), X('b', [6]), X('w2', [6, 4])], (t, x) =>
    t.matmul(layerNormalization(t, x.x, x.w, x.b, 1e-5, 'ln'), x.w2),
  );
  assert.ok(r.worst <= 1e-6, `layernorm: worst relative error ${r.worst}: ${JSON.stringify([...r.pairs])}`);
});

test('linear x·wᵀ with w [out, in] (dw = dyᵀ·x, no transposed copy): x and w gradients match finite differences for 3-D and 2-D x, and through a recomputed LayerNorm input (float64, rel 1e-6)', async () => {
  const r3 = await gradCheck('double', [X('x', [2, 3, 4]), X('w', [5, 4])], (t, x) => linearTransposed(t, x.x, x.w, 'fc'));
  const r2 = await gradCheck('double', [X('x', [3, 4]), X('w', [5, 4])], (t, x) => linearTransposed(t, x.x, x.w, 'proj'));
  const ln = await gradCheck('double', [X('x', [2, 3, 6]), X('g', [6]), X('b', [6]), X('w', [4, 6])], (t, x) =>
    linearTransposed(t, layerNormalization(t, x.x, x.g, x.b, 1e-5, 'ln'), x.w, 'q'),
  );
  // frozen weight: only dx; frozen input: only dw
  const fw = await gradCheck('double', [X('x', [2, 3, 4]), { name: 'w', shape: [5, 4], dims: [5, 4] }], (t, x) => linearTransposed(t, x.x, x.w, 'fc'));
  const fx = await gradCheck('double', [{ name: 'x', shape: [2, 3, 4], dims: [2, 3, 4] }, X('w', [5, 4])], (t, x) => linearTransposed(t, x.x, x.w, 'fc'));
  for (const [k, r] of Object.entries({ r3, r2, ln, fw, fx }))
    assert.ok(r.worst <= 1e-6, `${k}: worst relative error ${r.worst}: ${JSON.stringify([...r.pairs])}`);
  assert.deepEqual([...fw.pairs.keys()], ['x']);
  assert.deepEqual([...fx.pairs.keys()], ['w']);
});
