/**
 * Every vector-Jacobian product of the tape against central finite differences, through ONNX Runtime, in float64
 * (tolerance: relative 1e-6 of the directional derivative) — except Erf, which has no float64 kernel in
 * onnxruntime-node, checked in float32 (relative 2e-3, h = 1e-2).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gradCheck, type CheckInput } from '../../test-util/gradcheck.js';
import type { Tape, Value } from './tape.js';

const F64_TOL = 1e-6;

async function check(
  name: string,
  inputs: CheckInput[],
  f: (t: Tape, x: Record<string, Value>) => Value,
  dtype: 'double' | 'float' = 'double',
  tol = F64_TOL,
  yShape?: number[],
) {
  const r = await gradCheck(dtype, inputs, f, { yShape });
  assert.ok(r.worst <= tol, `${name}: worst relative error ${r.worst} > ${tol}: ${JSON.stringify([...r.pairs])}`);
}

const X = (name: string, shape: number[], dims: (number | string)[] = shape): CheckInput => ({ name, shape, dims, diff: true });

test('elementwise ops with broadcasting (Add, Sub, Mul, Div, Neg) match finite differences (float64, rel 1e-6)', async () => {
  await check('add', [X('a', [2, 3, 4]), X('b', [4])], (t, x) => t.add(x.a, x.b));
  await check('sub', [X('a', [2, 3, 4]), X('b', [1, 3, 1])], (t, x) => t.sub(x.a, x.b));
  await check('mul', [X('a', [2, 3, 4]), X('b', [3, 1])], (t, x) => t.mul(x.a, x.b));
  await check('mul scalar', [X('a', [2, 3]), X('s', [])], (t, x) => t.mul(x.a, x.s));
  await check('div', [X('a', [2, 3, 4]), { ...X('b', [2, 1, 4]), data: Array.from({ length: 8 }, (_, i) => 1.5 + i * 0.1) }], (t, x) => t.div(x.a, x.b));
  await check('neg', [X('a', [5])], (t, x) => t.op1('Neg', [x.a]));
});

test('MatMul (2-D, batched, N-D x 2-D) and Transpose match finite differences (float64, rel 1e-6)', async () => {
  await check('mm2', [X('a', [3, 4]), X('b', [4, 5])], (t, x) => t.matmul(x.a, x.b));
  await check('mm nd x 2d', [X('a', [2, 3, 4]), X('b', [4, 5])], (t, x) => t.matmul(x.a, x.b));
  await check('mm batched', [X('a', [2, 2, 3, 4]), X('b', [2, 2, 4, 3])], (t, x) => t.matmul(x.a, x.b));
  await check('transpose', [X('a', [2, 3, 4])], (t, x) => t.transpose(x.a, [2, 0, 1]));
  await check('linear via transpose', [X('x', [2, 3, 4]), X('w', [5, 4])], (t, x) => t.matmul(x.x, t.transpose(x.w, [1, 0])));
});

test('shape ops (Reshape, Unsqueeze, Squeeze, Expand, Concat, Split, Slice) match finite differences (float64)', async () => {
  await check('reshape', [X('a', [2, 3, 4])], (t, x) => t.reshape(x.a, [0, 2, 6]));
  await check('unsqueeze', [X('a', [2, 3])], (t, x) => t.op1('Unsqueeze', [x.a, t.ints([1])]));
  await check('squeeze', [X('a', [2, 1, 3])], (t, x) => t.op1('Squeeze', [x.a, t.ints([1])]));
  await check('expand', [X('a', [1, 1, 3]), { name: 'b', shape: [2, 4, 3], dims: [2, 4, 3] }], (t, x) =>
    t.op1('Expand', [x.a, t.shapeOf(x.b)], {}, { dims: [[2, 4, 3]] }),
  );
  await check('concat', [X('a', [2, 3]), X('b', [2, 2])], (t, x) => t.op1('Concat', [x.a, x.b], { axis: 1 }));
  await check('split', [X('a', [5, 3])], (t, x) => {
    const [p, , r] = t.op(
      'Split',
      [x.a, t.ints([2, 1, 2])],
      { axis: 0 },
      {
        nOut: 3,
        dims: [
          [2, 3],
          [1, 3],
          [2, 3],
        ],
      },
    );
    return t.op1('Concat', [p, r], { axis: 0 }); // the middle part gets no gradient
  });
  await check('slice', [X('a', [4, 6])], (t, x) => t.op1('Slice', [x.a, t.ints([1, 2]), t.ints([3, 5]), t.ints([0, 1])]));
});

test('Gather (embedding with repeated ids, row selection) scatters back with ScatterND add (float64)', async () => {
  await check('embedding', [X('table', [10, 4]), { name: 'ids', shape: [2, 3], dims: [2, 3], ints: [1, 3, 1, 9, 1, 0] }], (t, x) =>
    t.op1('Gather', [x.table, x.ids], { axis: 0 }),
  );
  await check('rows', [X('rows', [6, 3]), { name: 'idx', shape: [2], dims: [2], ints: [5, 2] }], (t, x) => t.op1('Gather', [x.rows, x.idx], { axis: 0 }));
});

test('reductions (ReduceSum keepdims 0/1, ReduceMean) match finite differences (float64)', async () => {
  await check('sum keep', [X('a', [2, 3, 4])], (t, x) => t.reduceSum(x.a, [1], true));
  await check('sum drop', [X('a', [2, 3, 4])], (t, x) => t.reduceSum(x.a, [0, 2], false));
  await check('mean', [X('a', [2, 3, 4])], (t, x) => t.op1('ReduceMean', [x.a], { axes: [-1], keepdims: 1 }));
});

test('Softmax, LogSoftmax, Sigmoid, Exp, Log, Sqrt, Tanh match finite differences (float64)', async () => {
  await check('softmax', [X('a', [2, 3, 5])], (t, x) => t.op1('Softmax', [x.a], { axis: -1 }));
  await check('logsoftmax', [X('a', [3, 5])], (t, x) => t.op1('LogSoftmax', [x.a], { axis: -1 }));
  await check('sigmoid', [X('a', [7])], (t, x) => t.op1('Sigmoid', [x.a]));
  await check('exp', [X('a', [7])], (t, x) => t.op1('Exp', [x.a]));
  const pos = { ...X('a', [7]), data: [0.5, 1, 1.5, 2, 2.5, 3, 3.5] };
  await check('log', [pos], (t, x) => t.op1('Log', [x.a]));
  await check('sqrt', [pos], (t, x) => t.op1('Sqrt', [x.a]));
  await check('tanh', [X('a', [7])], (t, x) => t.op1('Tanh', [x.a]));
});

test('LayerNormalization backward from its Mean/InvStdDev outputs matches finite differences (x, weight, bias; float64)', async () => {
  await check(
    'layernorm',
    [X('x', [2, 3, 6]), X('w', [6]), X('b', [6])],
    (t, x) => t.op('LayerNormalization', [x.x, x.w, x.b], { axis: -1, epsilon: { float: 1e-5 } }, { nOut: 3 })[0],
  );
});

test('Erf (float32 only in onnxruntime-node) matches finite differences (float32, rel 2e-3, h 1e-2)', async () => {
  await check('erf', [X('a', [9])], (t, x) => t.op1('Erf', [x.a]), 'float', 2e-3);
});

test('symbolic dims: one graph serves the runtime batch, broadcast gradients reduced correctly (float64)', async () => {
  await check('symbolic bias add + linear', [X('x', [3, 4], ['B', 4]), X('w', [5, 4]), X('b', [5])], (t, x) =>
    t.add(t.matmul(x.x, t.transpose(x.w, [1, 0])), x.b),
  );
  await check(
    'symbolic concat',
    [X('a', [3, 2], ['B', 2]), X('c', [2, 2], ['K', 2])],
    (t, x) => t.op1('Concat', [x.a, x.c], { axis: 0 }),
    'double',
    F64_TOL,
    [5, 2],
  );
});

test('a value used twice accumulates both gradients; inputs marked non-differentiable get none', async () => {
  await check('reuse', [X('a', [4]), { name: 'k', shape: [4], dims: [4] }], (t, x) => t.mul(t.mul(x.a, x.a), x.k));
});

test('block boundaries (mark) and ordering dependencies (after) leave values and gradients unchanged (float64)', async () => {
  await check('mark + after', [X('x', [2, 3]), X('w', [3, 3]), X('v', [3, 2])], (t, x) => {
    const h = t.mark(t.matmul(x.x, x.w));
    const y = t.matmul(t.op1('Tanh', [h]), x.v);
    return t.after(y, [h, x.w]);
  });
});
