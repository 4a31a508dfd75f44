/**
 * Finite-difference check of the tape's vector-Jacobian products through real ONNX Runtime sessions (test helper).
 * For f: inputs → y and a random seed s, the tape's gradient of <s, y> along a random direction v of each
 * differentiable input is compared with the central difference (<s, f(x + h v)> − <s, f(x − h v)>) / 2h.
 */
import * as ort from 'onnxruntime-node';
import { EXTERNAL_DATA_NAME } from '../graph/onnx-builder.js';
import { Tape, type Dim, type FloatType, type Value } from '../graph/autodiff/tape.js';

export interface CheckInput {
  readonly name: string;
  /** declared dims (may hold symbols) */
  readonly dims: readonly Dim[];
  /** runtime shape */
  readonly shape: readonly number[];
  readonly diff?: boolean;
  /** int64 data for index inputs; float inputs are random unless given */
  readonly ints?: readonly number[];
  readonly data?: readonly number[];
}

export interface CheckResult {
  /** per differentiable input: [analytic directional derivative, finite difference] */
  readonly pairs: Map<string, [number, number][]>;
  /** worst relative error over all directions */
  readonly worst: number;
}

/** Deterministic uniform(-1, 1) numbers. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

export async function gradCheck(
  dtype: FloatType,
  inputs: readonly CheckInput[],
  f: (t: Tape, xs: Record<string, Value>) => Value,
  opts: { h?: number; directions?: number; seed?: number; yShape?: readonly number[] } = {},
): Promise<CheckResult> {
  const h = opts.h ?? (dtype === 'double' ? 1e-6 : 1e-2);
  const rnd = seededRandom(opts.seed ?? 7);
  const t = new Tape('gradcheck', dtype);
  const xs: Record<string, Value> = {};
  for (const i of inputs) xs[i.name] = t.input(i.name, i.dims, { diff: i.diff ?? false, type: i.ints ? 'int64' : dtype });
  const y = f(t, xs);
  const seedV = t.input('seed', y.dims);
  t.output(y, 'y');
  const grads = t.backward([[y, seedV]]);
  const diffInputs = inputs.filter((i) => i.diff);
  for (const i of diffInputs) {
    const gv = grads.get(i.name);
    if (!gv) throw new Error(`no gradient reached ${i.name}`);
    t.output(gv, `grad_${i.name}`);
  }
  const built = t.build();
  // float64 at basic optimizations, as the gradient engine does: ORT's QuickGelu fusion matches the float64 pattern
  // but its kernel is float32 only
  const level = dtype === 'double' ? ('basic' as const) : ('all' as const);
  const session = await ort.InferenceSession.create(built.model, {
    externalData: [{ path: EXTERNAL_DATA_NAME, data: built.weights! }],
    intraOpNumThreads: 1,
    graphOptimizationLevel: level,
  });
  const F = dtype === 'double' ? Float64Array : Float32Array;
  const tensorType = dtype === 'double' ? 'float64' : 'float32';
  const base: Record<string, Float64Array | BigInt64Array> = {};
  for (const i of inputs) {
    const n = i.shape.reduce((a, b) => a * b, 1);
    base[i.name] = i.ints ? BigInt64Array.from(i.ints.map(BigInt)) : Float64Array.from(i.data ?? Array.from({ length: n }, rnd));
  }
  const run = async (vals: Record<string, Float64Array | BigInt64Array>, seedData: Float64Array, yShape?: readonly number[]) => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const i of inputs) {
      const v = vals[i.name];
      feeds[i.name] = v instanceof BigInt64Array ? new ort.Tensor('int64', v, i.shape) : new ort.Tensor(tensorType, F.from(v), i.shape);
    }
    feeds.seed = new ort.Tensor(tensorType, F.from(seedData), yShape ?? []);
    return session.run(feeds);
  };
  const yShape =
    opts.yShape ??
    y.dims.map((d) => {
      if (typeof d === 'number') return d;
      for (const i of inputs) {
        const k = i.dims.indexOf(d);
        if (k >= 0) return i.shape[k];
      }
      throw new Error(`gradcheck: output dim ${d} is not an input's dim`);
    });
  const seed = Float64Array.from({ length: yShape.reduce((a, b) => a * b, 1) }, rnd);
  const out = await run(base, seed, yShape);
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let s = 0;
    for (let k = 0; k < a.length; k++) s += a[k] * b[k];
    return s;
  };
  const pairs = new Map<string, [number, number][]>();
  let worst = 0;
  for (const i of diffInputs) {
    const g = out[`grad_${i.name}`].data as Float64Array | Float32Array;
    const list: [number, number][] = [];
    for (let k = 0; k < (opts.directions ?? 3); k++) {
      const x = base[i.name] as Float64Array;
      const v = Float64Array.from({ length: x.length }, rnd);
      const plus = { ...base, [i.name]: x.map((xv, j) => xv + h * v[j]) };
      const minus = { ...base, [i.name]: x.map((xv, j) => xv - h * v[j]) };
      const yp = (await run(plus, seed, yShape)).y.data as Float64Array;
      const ym = (await run(minus, seed, yShape)).y.data as Float64Array;
      const fd = (dot(yp, seed) - dot(ym, seed)) / (2 * h);
      const an = dot(g, v);
      list.push([an, fd]);
      worst = Math.max(worst, Math.abs(an - fd) / Math.max(Math.abs(fd), Math.abs(an), 1e-3));
    }
    pairs.set(i.name, list);
  }
  await session.release();
  return { pairs, worst };
}
