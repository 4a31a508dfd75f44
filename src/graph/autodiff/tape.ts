/**
 * Reverse-mode automatic differentiation over the project's ONNX graph builder.
 *
 * A `Tape` owns a `GraphBuilder`. Forward ops are emitted through `op()` exactly as the inference builders emit
 * them, and recorded with their (possibly symbolic) shapes. `backward()` walks the record in reverse and emits, into
 * the same graph, each op's vector-Jacobian product written with standard ONNX inference ops only (onnxruntime-node
 * is an inference build: no com.microsoft *Grad op exists, engine-notes.md). The result is one ONNX graph computing
 * forward values and gradients, so ONNX Runtime plans memory and fuses the whole step.
 *
 * Shapes: a dimension is a number or a symbol (a string: `B`, `T`, ...). Symbols are never compared numerically: two
 * equal symbols are the same size, and a static 1 facing another dimension is a broadcast. That is all the VJPs need
 * (a broadcast gradient is summed back over exactly those axes), so one graph serves every batch size and text length.
 *
 * Platform-free: no node: imports (the builder's file sink is the caller's choice).
 */
import { GraphBuilder, type AttrValue, type ElemType, type WeightSink } from '../onnx-builder.js';

export type Dim = number | string;
export type FloatType = 'float' | 'double';

/** A value in the graph: its name, its shape, and whether a gradient flows through it. */
export interface Value {
  readonly name: string;
  readonly dims: readonly Dim[];
  readonly type: ElemType;
  /** depends on a differentiable input */
  readonly diff: boolean;
}

interface Rec {
  readonly op: string;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly attrs: Record<string, AttrValue>;
  readonly label: string;
}

export interface OpOptions {
  /** a readable prefix of the node name (reference module path) */
  readonly name?: string;
  /** number of outputs (default 1) */
  readonly nOut?: number;
  /** output shapes, when the tape cannot infer them (Expand, Split, ConstantOfShape ...) */
  readonly dims?: readonly (readonly Dim[])[];
  /** output element types (default: the first input's) */
  readonly types?: readonly ElemType[];
}

/** The record of `Tape.mark` (no ONNX node). */
const MARK = '#mark';
/** The record of `Tape.composite` (its forward nodes are not recorded). */
const COMPOSITE = '#composite';

/** Ops whose outputs never carry a gradient (integer results, shapes, constants). */
const NON_DIFF = new Set(['Shape', 'Size', 'ConstantOfShape', 'EyeLike', 'Equal', 'Less', 'Greater', 'ArgMax', 'ArgMin', 'Not', 'Range']);

type Vjp = (t: Tape, r: Rec, dy: readonly (Value | undefined)[]) => (Value | undefined)[];

export class Tape {
  readonly g: GraphBuilder;
  private readonly recs: Rec[] = [];
  private readonly consts = new Map<string, number[]>();
  /** differentiable graph inputs (parameters), by name */
  private readonly diffInputs = new Set<string>();
  /** reverse-pass rules of composite ops (see `composite`), by record label */
  private readonly composites = new Map<string, Vjp>();
  /** values the reverse pass recomputes instead of keeping (see `recomputable`), by name */
  private readonly recomputers = new Map<string, (anchor: (x: Value) => Value) => Value>();
  /** this backward's recomputed values, by name */
  private recomputed = new Map<string, Value>();
  private n = 0;

  constructor(
    graphName: string,
    readonly dtype: FloatType = 'float',
    sink?: WeightSink,
  ) {
    this.g = new GraphBuilder(graphName, sink);
  }

  /** A graph input; `diff` marks a parameter (or a value) the gradient is taken with respect to. */
  input(name: string, dims: readonly Dim[], opts: { diff?: boolean; type?: ElemType } = {}): Value {
    const type = opts.type ?? this.dtype;
    this.g.input(name, type, dims);
    if (opts.diff) this.diffInputs.add(name);
    return { name, dims: [...dims], type, diff: opts.diff ?? false };
  }

  /** Declares `v` as the graph output `name` (written by the node producing `v`: no Identity copy, see `GraphBuilder.outputInPlace`). */
  output(v: Value, name: string): void {
    this.g.outputInPlace(v.name, name, v.type, v.dims);
  }

  /** An int64 constant (kept inline: shape inference and the tape read it). */
  ints(values: readonly number[], dims: readonly number[] = [values.length]): Value {
    const name = this.g.int64(`c${this.n++}`, values, dims);
    this.consts.set(name, [...values]);
    return { name, dims: [...dims], type: 'int64', diff: false };
  }

  /** A float constant of the tape's dtype (scalar unless dims are given). */
  constant(values: number | readonly number[], dims: readonly number[] = []): Value {
    const arr = typeof values === 'number' ? [values] : values;
    const name = `c${this.n++}`;
    const bytes = this.dtype === 'double' ? new Uint8Array(Float64Array.from(arr).buffer) : new Uint8Array(Float32Array.from(arr).buffer);
    this.g.raw(name, this.dtype, dims, bytes);
    return { name, dims: [...dims], type: this.dtype, diff: false };
  }

  /** Emits an ONNX node and records it for `backward`. Returns its outputs. */
  op(opType: string, inputs: readonly Value[], attrs: Record<string, AttrValue> = {}, opts: OpOptions = {}): Value[] {
    const nOut = opts.nOut ?? 1;
    const label = `${opts.name ?? opType}#${this.n++}`;
    const names = this.g.op(
      opType,
      label,
      inputs.map((v) => v.name),
      attrs,
      nOut,
    );
    const dims = opts.dims ?? inferDims(this, opType, inputs, attrs, nOut);
    const diff = !NON_DIFF.has(opType) && inputs.some((v) => v.diff);
    // LayerNormalization's Mean/InvStdDev are float32 (stash_type 1; ORT has no float64 stash kernel)
    const types = opts.types ?? (opType === 'LayerNormalization' ? [inputs[0].type, 'float', 'float'] : undefined);
    const outputs = names.map((name, i) => ({ name, dims: dims[i], type: types?.[i] ?? outType(opType, inputs, attrs), diff }));
    this.recs.push({ op: opType, inputs, outputs, attrs, label });
    return outputs;
  }

  op1(opType: string, inputs: readonly Value[], attrs: Record<string, AttrValue> = {}, opts: OpOptions = {}): Value {
    return this.op(opType, inputs, attrs, opts)[0];
  }

  /**
   * Marks `x` as a block boundary (an encoder layer's input): no node is emitted in the forward pass, but in the
   * reverse pass the gradient of `x` is made to depend on every parameter gradient produced by the block after it
   * (see `backward`). Returns `x`.
   */
  mark(x: Value): Value {
    if (x.diff) this.recs.push({ op: MARK, inputs: [x], outputs: [x], attrs: {}, label: `mark#${this.n++}` });
    return x;
  }

  /**
   * `x`, but only once every value of `deps` has been computed: a Reshape of `x` to its own shape plus an int64 zero
   * derived from one element of each dependency (so no optimizer can fold the dependency away). ONNX Runtime
   * orders nodes by a depth-first walk from the outputs, so this is how a graph says "finish these first".
   */
  after(x: Value, deps: readonly Value[]): Value {
    if (deps.length === 0) return x;
    const firsts = deps.map((d) =>
      this.op1('Slice', [this.reshape(d, [-1], 'order_flat'), this.ints([0]), this.ints([1]), this.ints([0])], {}, { name: 'order_first', dims: [[1]] }),
    );
    const joined = firsts.length === 1 ? firsts[0] : this.op1('Concat', firsts, { axis: 0 }, { name: 'order_join', dims: [[firsts.length]] });
    const asInt = this.op1('Cast', [joined], { to: ONNX_TYPE.int64! }, { name: 'order_int', dims: [joined.dims], types: ['int64'] });
    const zero = this.op1(
      'ReduceSum',
      [this.op1('Mul', [asInt, this.ints([0])], {}, { name: 'order_zero', dims: [joined.dims], types: ['int64'] }), this.ints([0])],
      { keepdims: 1 },
      { name: 'order_zero', dims: [[1]], types: ['int64'] },
    );
    const shape = this.op1('Add', [this.shapeOf(x), zero], {}, { name: 'order_shape', dims: [[x.dims.length]], types: ['int64'] });
    return this.op1('Reshape', [x, shape], {}, { name: 'order_after', dims: [x.dims], types: [x.type] });
  }

  /**
   * A composite op: `emit` writes its forward nodes, which the reverse pass does not see one by one; `vjp` is its
   * vector-Jacobian product (input gradients from the output gradient). So the reverse pass keeps only what `vjp`
   * reads (typically the inputs) instead of every intermediate of the forward nodes.
   */
  composite(
    inputs: readonly Value[],
    emit: () => Value,
    vjp: (t: Tape, x: readonly Value[], y: Value, dy: Value) => (Value | undefined)[],
    name = 'composite',
  ): Value {
    const start = this.recs.length;
    const y = emit();
    this.recs.length = start;
    const label = `${name}#${this.n++}`;
    const out = { ...y, diff: inputs.some((v) => v.diff) };
    this.recs.push({ op: COMPOSITE, inputs, outputs: [out], attrs: {}, label });
    this.composites.set(label, (t, r, [d]) => vjp(t, r.inputs, r.outputs[0], d!));
    return out;
  }

  /**
   * Says that the reverse pass should recompute `v` (with `make`, from values it keeps anyway) rather than keep it
   * alive from the forward pass to the backward one. `make` must pass every value it reads through `anchor`: the
   * anchored copy is only available once the reverse pass has reached `v`, so ONNX Runtime neither computes it early
   * nor merges it with the forward node (common-subexpression elimination).
   */
  recomputable(v: Value, make: (anchor: (x: Value) => Value) => Value): Value {
    this.recomputers.set(v.name, make);
    return v;
  }

  /** A forward value as the reverse pass reads it: recomputed (once, after `dep`) if it was declared recomputable. */
  saved(v: Value, dep: Value): Value {
    const make = this.recomputers.get(v.name);
    if (!make) return v;
    let r = this.recomputed.get(v.name);
    if (!r) {
      r = make((x) => this.after(x, [dep]));
      this.recomputed.set(v.name, r);
    }
    return r;
  }

  /** The values of an int64 constant made by `ints`, if `v` is one. */
  constValues(v: Value): number[] | undefined {
    return this.consts.get(v.name);
  }

  // ---- small helpers used by the forward builders and the VJPs -------------------------------------------------

  add(a: Value, b: Value, name?: string): Value {
    return this.op1('Add', [a, b], {}, { name });
  }
  sub(a: Value, b: Value, name?: string): Value {
    return this.op1('Sub', [a, b], {}, { name });
  }
  mul(a: Value, b: Value, name?: string): Value {
    return this.op1('Mul', [a, b], {}, { name });
  }
  div(a: Value, b: Value, name?: string): Value {
    return this.op1('Div', [a, b], {}, { name });
  }
  matmul(a: Value, b: Value, name?: string): Value {
    return this.op1('MatMul', [a, b], {}, { name });
  }
  transpose(x: Value, perm: readonly number[], name?: string): Value {
    return this.op1('Transpose', [x], { perm: [...perm] }, { name });
  }
  /** Reshape to `dims` (numbers; 0 copies the input's dimension, one -1 is inferred; symbols in the result are allowed only through 0/-1). */
  reshape(x: Value, shape: readonly number[], name?: string): Value {
    return this.op1('Reshape', [x, this.ints(shape)], {}, { name });
  }
  reduceSum(x: Value, axes: readonly number[], keepdims: boolean, name?: string): Value {
    return this.op1('ReduceSum', [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 }, { name });
  }
  shapeOf(x: Value): Value {
    return this.op1('Shape', [x], {}, { dims: [[x.dims.length]], types: ['int64'] });
  }
  /** Zeros shaped like x (ConstantOfShape's default value is a float32 0; cast for other types). */
  zerosLike(x: Value): Value {
    const z = this.op1('ConstantOfShape', [this.shapeOf(x)], {}, { dims: [x.dims], types: ['float'] });
    return x.type === 'float' ? z : this.op1('Cast', [z], { to: ONNX_TYPE[x.type]! }, { dims: [x.dims], types: [x.type] });
  }

  /**
   * Reverse pass: `seeds` pairs outputs with their incoming gradient (same shape). Returns the gradient of every
   * differentiable graph input reached (by input name); inputs that the seeds do not depend on are absent.
   */
  backward(seeds: readonly (readonly [Value, Value])[]): Map<string, Value> {
    const grads = new Map<string, Value>();
    // parameter gradients produced since the last block boundary (see `mark`)
    let sinceMark = new Map<string, Value>();
    const accumulate = (v: Value, d: Value | undefined) => {
      if (!d || !v.diff) return;
      const prev = grads.get(v.name);
      const sum = prev ? this.add(prev, d, 'grad_accumulate') : d;
      grads.set(v.name, sum);
      if (this.diffInputs.has(v.name)) sinceMark.set(v.name, sum);
    };
    for (const [v, d] of seeds) accumulate(v, d);
    const forward = this.recs.slice();
    this.recomputed = new Map();
    for (let i = forward.length - 1; i >= 0; i--) {
      const r = forward[i];
      if (r.op === MARK) {
        // the block's parameter gradients are computed before the gradient flows on into the previous block, so
        // each block's activations and gradient temporaries are released before the next block's backward starts
        const d = grads.get(r.inputs[0].name);
        if (d && sinceMark.size > 0) grads.set(r.inputs[0].name, this.after(d, [...sinceMark.values()]));
        sinceMark = new Map();
        continue;
      }
      if (!r.outputs[0]?.diff) continue;
      const dys = r.outputs.map((o) => grads.get(o.name));
      if (dys.every((d) => d === undefined)) continue;
      const rule = r.op === COMPOSITE ? this.composites.get(r.label) : VJP[r.op];
      if (!rule) throw new Error(`autodiff: no gradient rule for ONNX op ${r.op} (node ${r.label})`);
      const dxs = rule(this, r, dys);
      r.inputs.forEach((x, k) => accumulate(x, dxs[k]));
      for (const o of r.outputs) grads.delete(o.name);
    }
    return grads;
  }

  build() {
    return this.g.build();
  }
}

const ONNX_TYPE: Partial<Record<ElemType, number>> = { float: 1, double: 11, int64: 7, int32: 6, bool: 9 };

function outType(op: string, inputs: readonly Value[], attrs: Record<string, AttrValue>): ElemType {
  if (op === 'Shape' || op === 'Size' || op === 'ArgMax' || op === 'ArgMin') return 'int64';
  if (op === 'Equal' || op === 'Less' || op === 'Greater' || op === 'Not') return 'bool';
  if (op === 'Cast') return castType(attrs.to as number);
  if (op === 'ConstantOfShape') return 'float';
  if (op === 'Gather' || op === 'ScatterND' || op === 'ScatterElements' || op === 'Where') return inputs[op === 'Where' ? 1 : 0].type;
  return inputs[0].type;
}

function castType(to: number): ElemType {
  const map: Record<number, ElemType> = { 1: 'float', 11: 'double', 7: 'int64', 6: 'int32', 9: 'bool' };
  const t = map[to];
  if (!t) throw new Error(`autodiff: Cast to ONNX type ${to} is not supported`);
  return t;
}

// ---- shapes ------------------------------------------------------------------------------------------------------

let symbolCounter = 0;
const freshSymbol = (hint: string) => `${hint}_${symbolCounter++}`;

function broadcastDims(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1 || x === y) out.push(x);
    else if (typeof x === 'string' || typeof y === 'string') out.push(typeof x === 'number' ? x : y);
    else throw new Error(`autodiff: cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

function inferDims(t: Tape, op: string, xs: readonly Value[], attrs: Record<string, AttrValue>, nOut: number): Dim[][] {
  const x = xs[0]?.dims ?? [];
  switch (op) {
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Pow':
    case 'Equal':
    case 'Less':
    case 'Greater':
      return [broadcastDims(x, xs[1].dims)];
    case 'Where':
      return [broadcastDims(broadcastDims(x, xs[1].dims), xs[2].dims)];
    case 'Identity':
    case 'Neg':
    case 'Exp':
    case 'Log':
    case 'Sqrt':
    case 'Sigmoid':
    case 'Tanh':
    case 'Erf':
    case 'Relu':
    case 'Softmax':
    case 'LogSoftmax':
    case 'Cast':
    case 'Not':
    case 'EyeLike':
      return [[...x]];
    case 'LayerNormalization': {
      const axis = normAxis((attrs.axis as number | undefined) ?? -1, x.length);
      const stat = x.map((d, i) => (i < axis ? d : 1));
      return [[...x], stat, stat].slice(0, nOut);
    }
    case 'MatMul': {
      const b = xs[1].dims;
      if (b.length === 2) return [[...x.slice(0, -1), b[1]]];
      if (b.length !== x.length) throw new Error('autodiff: MatMul needs equal ranks or a 2-D right operand');
      return [[...broadcastDims(x.slice(0, -2), b.slice(0, -2)), x[x.length - 2], b[b.length - 1]]];
    }
    case 'Transpose': {
      const perm = attrs.perm as number[];
      return [perm.map((p) => x[p])];
    }
    case 'Reshape': {
      const shape = t.constValues(xs[1]);
      if (!shape) throw new Error('autodiff: Reshape needs a constant shape (or explicit dims)');
      const out: Dim[] = shape.map((s, i) => (s === 0 ? x[i] : s));
      const neg = out.indexOf(-1);
      if (neg >= 0) {
        const total = x.every((d) => typeof d === 'number') ? (x as number[]).reduce((a, b) => a * b, 1) : undefined;
        const known = out.every((d, i) => i === neg || typeof d === 'number')
          ? (out.filter((_, i) => i !== neg) as number[]).reduce((a, b) => a * b, 1)
          : undefined;
        out[neg] = total !== undefined && known !== undefined ? total / known : freshSymbol('r');
      }
      return [out];
    }
    case 'ReduceSum':
    case 'ReduceMean':
    case 'ReduceMax': {
      const axes = (xs[1] ? t.constValues(xs[1]) : (attrs.axes as number[] | undefined)) ?? x.map((_, i) => i);
      const ax = new Set(axes.map((a) => normAxis(a, x.length)));
      const keep = (attrs.keepdims ?? 1) === 1;
      return [keep ? x.map((d, i) => (ax.has(i) ? 1 : d)) : x.filter((_, i) => !ax.has(i))];
    }
    case 'Gather': {
      const axis = normAxis((attrs.axis as number | undefined) ?? 0, x.length);
      return [[...x.slice(0, axis), ...xs[1].dims, ...x.slice(axis + 1)]];
    }
    case 'Concat': {
      const axis = normAxis(attrs.axis as number, x.length);
      const sizes = xs.map((v) => v.dims[axis]);
      const total = sizes.every((s) => typeof s === 'number') ? (sizes as number[]).reduce((a, b) => a + b, 0) : freshSymbol('cat');
      return [x.map((d, i) => (i === axis ? total : d))];
    }
    case 'Slice': {
      const starts = t.constValues(xs[1]);
      const ends = t.constValues(xs[2]);
      const axes = xs[3] ? t.constValues(xs[3]) : undefined;
      if (!starts || !ends) throw new Error('autodiff: Slice needs constant starts/ends (or explicit dims)');
      const out = [...x];
      starts.forEach((s, k) => {
        const a = normAxis(axes ? axes[k] : k, x.length);
        const d = x[a];
        if (typeof d !== 'number') {
          if (s >= 0 && ends[k] >= 0 && ends[k] < 2 ** 62) out[a] = ends[k] - s;
          else out[a] = freshSymbol('slice');
          return;
        }
        const lo = Math.min(Math.max(s < 0 ? s + d : s, 0), d);
        const hi = Math.min(Math.max(ends[k] < 0 ? ends[k] + d : ends[k], 0), d);
        out[a] = Math.max(hi - lo, 0);
      });
      return [out];
    }
    case 'Unsqueeze': {
      const axes = t.constValues(xs[1]);
      if (!axes) throw new Error('autodiff: Unsqueeze needs constant axes');
      const out = [...x];
      const rank = x.length + axes.length;
      for (const a of [...axes].map((v) => normAxis(v, rank)).sort((p, q) => p - q)) out.splice(a, 0, 1);
      return [out];
    }
    case 'Squeeze': {
      const axes = t.constValues(xs[1]);
      if (!axes) throw new Error('autodiff: Squeeze needs constant axes');
      const ax = new Set(axes.map((a) => normAxis(a, x.length)));
      return [x.filter((_, i) => !ax.has(i))];
    }
    default:
      throw new Error(`autodiff: give the output dims of ${op} explicitly`);
  }
}

// ---- vector-Jacobian products ----------------------------------------------------------------------------------

/** Sums `d` (shaped like the broadcast result) back to the shape of `x`. */
function unbroadcast(t: Tape, d: Value, x: Value): Value {
  const out = d.dims;
  const lead = out.length - x.dims.length;
  const axes: number[] = [];
  for (let i = 0; i < out.length; i++) {
    if (i < lead) axes.push(i);
    else if (x.dims[i - lead] === 1 && out[i] !== 1) axes.push(i);
  }
  if (axes.length === 0) return d;
  const r = t.reduceSum(d, axes, true, 'grad_unbroadcast');
  if (lead === 0) return r;
  return reshapeLike(t, r, x);
}

/** Reshape `d` to x's shape: a constant when x's shape is static, else x's runtime shape. */
function reshapeLike(t: Tape, d: Value, x: Value): Value {
  const shape = x.dims.every((v) => typeof v === 'number') ? t.ints(x.dims as number[]) : t.shapeOf(x);
  return t.op1('Reshape', [d, shape], {}, { name: 'grad_reshape', dims: [x.dims] });
}

const onlyFirst = (d: readonly (Value | undefined)[]) => d[0];

const VJP: Record<string, Vjp> = {
  Identity: (_t, _r, d) => [onlyFirst(d)],
  Add: (t, r, [d]) => [r.inputs[0].diff ? unbroadcast(t, d!, r.inputs[0]) : undefined, r.inputs[1].diff ? unbroadcast(t, d!, r.inputs[1]) : undefined],
  Sub: (t, r, [d]) => [
    r.inputs[0].diff ? unbroadcast(t, d!, r.inputs[0]) : undefined,
    r.inputs[1].diff ? unbroadcast(t, t.op1('Neg', [d!], {}, { name: 'grad_neg' }), r.inputs[1]) : undefined,
  ],
  Neg: (t, _r, [d]) => [t.op1('Neg', [d!], {}, { name: 'grad_neg' })],
  Mul: (t, r, [d]) => {
    const [a, b] = r.inputs;
    return [a.diff ? unbroadcast(t, t.mul(d!, b, 'grad_mul'), a) : undefined, b.diff ? unbroadcast(t, t.mul(d!, a, 'grad_mul'), b) : undefined];
  },
  Div: (t, r, [d]) => {
    const [a, b] = r.inputs;
    const y = r.outputs[0];
    const da = a.diff ? unbroadcast(t, t.div(d!, b, 'grad_div'), a) : undefined;
    // d(a/b)/db = -a/b² = -y/b
    const db = b.diff ? unbroadcast(t, t.op1('Neg', [t.div(t.mul(d!, y, 'grad_div'), b, 'grad_div')]), b) : undefined;
    return [da, db];
  },
  Exp: (t, r, [d]) => [t.mul(d!, r.outputs[0], 'grad_exp')],
  Log: (t, r, [d]) => [t.div(d!, r.inputs[0], 'grad_log')],
  Sqrt: (t, r, [d]) => [t.div(t.mul(d!, t.constant(0.5), 'grad_sqrt'), r.outputs[0], 'grad_sqrt')],
  Sigmoid: (t, r, [d]) => {
    const y = r.outputs[0];
    return [t.mul(d!, t.mul(y, t.sub(t.constant(1), y, 'grad_sigmoid'), 'grad_sigmoid'), 'grad_sigmoid')];
  },
  Tanh: (t, r, [d]) => {
    const y = r.outputs[0];
    return [t.mul(d!, t.sub(t.constant(1), t.mul(y, y, 'grad_tanh'), 'grad_tanh'), 'grad_tanh')];
  },
  Erf: (t, r, [d]) => {
    // d erf(x) = 2/sqrt(pi) exp(-x²)
    const x = r.inputs[0];
    const e = t.op1('Exp', [t.op1('Neg', [t.mul(x, x, 'grad_erf')], {}, { name: 'grad_erf' })], {}, { name: 'grad_erf' });
    return [t.mul(d!, t.mul(e, t.constant(2 / Math.sqrt(Math.PI)), 'grad_erf'), 'grad_erf')];
  },
  MatMul: (t, r, [d]) => {
    const [a, b] = r.inputs;
    const rank = a.dims.length;
    const swapLast = (v: Value) =>
      t.transpose(
        v,
        [...v.dims.keys()].map((i) => (i === v.dims.length - 2 ? v.dims.length - 1 : i === v.dims.length - 1 ? v.dims.length - 2 : i)),
        'grad_matmul_t',
      );
    // dA reads B's value and dB reads A's (recomputed here if declared recomputable)
    const da = a.diff ? t.matmul(d!, swapLast(t.saved(b, d!)), 'grad_matmul_a') : undefined;
    let db: Value | undefined;
    if (b.diff) {
      const av = t.saved(a, d!);
      if (b.dims.length === 2 && rank > 2) {
        // [.., m, k] x [k, n]: flatten the leading axes, dB = Aᵀ dC
        const a2 = t.reshape(av, [-1, a.dims[rank - 1] as number], 'grad_matmul_flat');
        const d2 = t.reshape(d!, [-1, b.dims[1] as number], 'grad_matmul_flat');
        db = t.matmul(t.transpose(a2, [1, 0], 'grad_matmul_t'), d2, 'grad_matmul_b');
      } else db = unbroadcast(t, t.matmul(swapLast(av), d!, 'grad_matmul_b'), b);
    }
    return [da && unbroadcast(t, da, a), db];
  },
  Transpose: (t, r, [d]) => {
    const perm = r.attrs.perm as number[];
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [t.transpose(d!, inv, 'grad_transpose')];
  },
  Reshape: (t, r, [d]) => [reshapeLike(t, d!, r.inputs[0])],
  Unsqueeze: (t, r, [d]) => [reshapeLike(t, d!, r.inputs[0])],
  Squeeze: (t, r, [d]) => [reshapeLike(t, d!, r.inputs[0])],
  Expand: (t, r, [d]) => [unbroadcast(t, d!, r.inputs[0])],
  ReduceSum: (t, r, [d]) => [expandBack(t, r, d!)],
  ReduceMean: (t, r, [d]) => {
    const x = r.inputs[0];
    const y = r.outputs[0];
    const e = expandBack(t, r, d!);
    // count = size(x) / size(y), at run time (symbolic dims)
    const count = t.op1('Div', [
      t.op1('Cast', [t.op1('Size', [x], {}, { dims: [[]], types: ['int64'] })], { to: t.dtype === 'double' ? 11 : 1 }, { dims: [[]], types: [t.dtype] }),
      t.op1('Cast', [t.op1('Size', [y], {}, { dims: [[]], types: ['int64'] })], { to: t.dtype === 'double' ? 11 : 1 }, { dims: [[]], types: [t.dtype] }),
    ]);
    return [t.div(e, count, 'grad_mean')];
  },
  Softmax: (t, r, [d]) => {
    const y = r.outputs[0];
    const axis = (r.attrs.axis as number | undefined) ?? -1;
    const s = t.reduceSum(t.mul(d!, y, 'grad_softmax'), [axis], true, 'grad_softmax');
    return [t.mul(y, t.sub(d!, s, 'grad_softmax'), 'grad_softmax')];
  },
  LogSoftmax: (t, r, [d]) => {
    const y = r.outputs[0];
    const axis = (r.attrs.axis as number | undefined) ?? -1;
    const s = t.reduceSum(d!, [axis], true, 'grad_logsoftmax');
    return [t.sub(d!, t.mul(t.op1('Exp', [y], {}, { name: 'grad_logsoftmax' }), s, 'grad_logsoftmax'), 'grad_logsoftmax')];
  },
  LayerNormalization: (t, r, [d]) => {
    // y = x̂·γ + β with x̂ = (x − μ)·r; dx = r·(g − mean(g) − x̂·mean(g·x̂)) where g = dy·γ (mean over the normalized axis)
    const [x, gamma, beta] = r.inputs;
    let [, mean, inv] = r.outputs;
    if (mean.type !== x.type) {
      mean = t.op1('Cast', [mean], { to: ONNX_TYPE[x.type]! });
      inv = t.op1('Cast', [inv], { to: ONNX_TYPE[x.type]! });
    }
    const axis = normAxis((r.attrs.axis as number | undefined) ?? -1, x.dims.length);
    if (axis !== x.dims.length - 1) throw new Error('autodiff: LayerNormalization gradient needs axis = -1');
    const xhat = t.mul(t.sub(x, mean, 'grad_ln_xhat'), inv, 'grad_ln_xhat');
    const g = t.mul(d!, gamma, 'grad_ln');
    const mg = t.op1('ReduceMean', [g], { axes: [-1], keepdims: 1 }, { name: 'grad_ln' });
    const mgx = t.op1('ReduceMean', [t.mul(g, xhat, 'grad_ln')], { axes: [-1], keepdims: 1 }, { name: 'grad_ln' });
    const dx = x.diff ? t.mul(t.sub(t.sub(g, mg, 'grad_ln'), t.mul(xhat, mgx, 'grad_ln'), 'grad_ln'), inv, 'grad_ln_dx') : undefined;
    const dgamma = gamma.diff ? unbroadcast(t, t.mul(d!, xhat, 'grad_ln_gamma'), gamma) : undefined;
    const dbeta = beta?.diff ? unbroadcast(t, d!, beta) : undefined;
    return [dx, dgamma, dbeta];
  },
  Gather: (t, r, [d]) => {
    // embedding / row selection: scatter-add the rows back (ScatterND, reduction = add, handles repeated indices)
    const [data, idx] = r.inputs;
    const axis = normAxis((r.attrs.axis as number | undefined) ?? 0, data.dims.length);
    if (axis !== 0) throw new Error('autodiff: Gather gradient needs axis = 0');
    const idx1 = t.op1('Unsqueeze', [idx, t.ints([-1])], {}, { name: 'grad_gather_idx' });
    return [t.op1('ScatterND', [t.zerosLike(data), idx1, d!], { reduction: 'add' }, { name: 'grad_gather', dims: [data.dims], types: [data.type] })];
  },
  Concat: (t, r, [d]) => {
    const axis = normAxis(r.attrs.axis as number, r.inputs[0].dims.length);
    const sizes = r.inputs.map((v) => v.dims[axis]);
    const split = sizes.every((s) => typeof s === 'number')
      ? t.ints(sizes as number[])
      : t.op1(
          'Concat',
          r.inputs.map((v) => t.op1('Shape', [v], { start: axis, end: axis + 1 }, { dims: [[1]], types: ['int64'] })),
          { axis: 0 },
          { dims: [[r.inputs.length]] },
        );
    const parts = t.op('Split', [d!, split], { axis }, { nOut: r.inputs.length, name: 'grad_concat', dims: r.inputs.map((v) => v.dims) });
    return parts.map((p, i) => (r.inputs[i].diff ? p : undefined));
  },
  Split: (t, r, d) => {
    const axis = normAxis((r.attrs.axis as number | undefined) ?? 0, r.inputs[0].dims.length);
    const parts = r.outputs.map((o, i) => d[i] ?? t.zerosLike(o));
    return [t.op1('Concat', parts, { axis }, { name: 'grad_split', dims: [r.inputs[0].dims] })];
  },
  Slice: (t, r, [d]) => {
    // pad the gradient back with zeros: ScatterND is shape-agnostic, but a static Pad is cheaper and exact
    const x = r.inputs[0];
    const starts = t.constValues(r.inputs[1])!;
    const ends = t.constValues(r.inputs[2])!;
    const axes = r.inputs[3] ? t.constValues(r.inputs[3])! : starts.map((_, i) => i);
    const rank = x.dims.length;
    const pads = new Array<number>(2 * rank).fill(0);
    axes.forEach((a0, k) => {
      const a = normAxis(a0, rank);
      const size = x.dims[a];
      if (typeof size !== 'number') throw new Error('autodiff: Slice gradient needs a static size on the sliced axis');
      const lo = Math.min(Math.max(starts[k] < 0 ? starts[k] + size : starts[k], 0), size);
      const hi = Math.min(Math.max(ends[k] < 0 ? ends[k] + size : ends[k], 0), size);
      pads[a] = lo;
      pads[rank + a] = size - hi;
    });
    return [t.op1('Pad', [d!, t.ints(pads)], {}, { name: 'grad_slice', dims: [x.dims] })];
  },
};

/** Gradient of a sum-reduction: put the reduced axes back (when not kept) and broadcast to x's shape. */
function expandBack(t: Tape, r: Rec, d: Value): Value {
  const x = r.inputs[0];
  const keep = (r.attrs.keepdims ?? 1) === 1;
  let e = d;
  if (!keep) {
    const axes = (r.inputs[1] ? t.constValues(r.inputs[1]) : (r.attrs.axes as number[] | undefined)) ?? x.dims.map((_, i) => i);
    e = t.op1('Unsqueeze', [d, t.ints(axes.map((a) => normAxis(a, x.dims.length)))], {}, { name: 'grad_reduce' });
  }
  return t.op1('Expand', [e, t.shapeOf(x)], {}, { name: 'grad_reduce', dims: [x.dims] });
}
