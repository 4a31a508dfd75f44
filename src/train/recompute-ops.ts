/**
 * Training-graph ops whose reverse pass keeps less than the plain op-by-op tape would: the MLP activation as one
 * composite op (the reverse pass keeps only its input and recomputes the rest) and LayerNormalization with a
 * recomputed output. Memory of a training step is dominated by the activations kept for the reverse pass
 * (docs/gradients.md "Memory"); these two cut the kept tensors of an encoder layer by about 40%, for one extra
 * elementwise pass and one extra LayerNormalization per layer. Platform-free.
 */
import type { Activation } from '../config/types.js';
import type { Tape, Value } from '../graph/autodiff/tape.js';

/**
 * x [..., in] · wᵀ for a weight w [out, in] (the reference's Linear layout), as one composite op whose reverse pass
 * gives each gradient in its own layout with no transposed copy: dx = dy · w and dw = dyᵀ · x (a transposed
 * operand, which ONNX Runtime folds into the matmul: FusedMatMul transA). Written op by op, dw would be
 * (xᵀ · dy)ᵀ — a weight-sized Transpose per linear layer and step. The forward nodes are the plain op-by-op ones
 * (Transpose + MatMul, fused by ONNX Runtime into FusedMatMul transB), so inference-equal. x may be recomputable
 * (a LayerNorm output, the MLP activation): the reverse pass reads it through `saved`.
 */
export function linearTransposed(t: Tape, x: Value, w: Value, name: string): Value {
  return t.composite(
    [x, w],
    () => t.matmul(x, t.transpose(w, [1, 0], `${name}.weight_t`), name),
    (tt, [xv, wv], _y, dy) => {
      const [out, inn] = wv.dims;
      if (typeof out !== 'number' || typeof inn !== 'number' || wv.dims.length !== 2) throw new Error(`training graph: ${name} needs a static 2-D weight`);
      const dx = xv.diff ? tt.matmul(dy, wv, 'grad_linear_x') : undefined;
      let dw: Value | undefined;
      if (wv.diff) {
        const xs = tt.saved(xv, dy);
        const flat = xv.dims.length > 2;
        const d2 = flat ? tt.reshape(dy, [-1, out], 'grad_linear_flat') : dy;
        const x2 = flat ? tt.reshape(xs, [-1, inn], 'grad_linear_flat') : xs;
        dw = tt.matmul(tt.transpose(d2, [1, 0], 'grad_linear_t'), x2, 'grad_linear_w');
      }
      return [dx, dw];
    },
    `${name}.linear`,
  );
}

/** LayerNormalization over the last axis; its output is recomputed in the reverse pass (from x, which that pass keeps anyway). */
export function layerNormalization(t: Tape, x: Value, w: Value, b: Value, eps: number, name: string): Value {
  const attrs = { axis: -1, epsilon: { float: eps } };
  const y = t.op('LayerNormalization', [x, w, b], attrs, { nOut: 3, name })[0];
  return t.recomputable(y, (anchor) => t.op1('LayerNormalization', [anchor(x), w, b], attrs, { name: `${name}.recompute` }));
}

/** Erf (onnxruntime-node has no float64 Erf kernel: a float64 graph evaluates it in float32). */
function erf(t: Tape, u: Value, name: string): Value {
  return t.dtype === 'double' ? t.op1('Cast', [t.op1('Erf', [t.op1('Cast', [u], { to: 1 })], {}, { name })], { to: 11 }) : t.op1('Erf', [u], {}, { name });
}

const QUICK_GELU_ALPHA = 1.702;
const TANH_GELU_C = 0.044715;

/** The activation's forward nodes. */
function activationNodes(t: Tape, path: string, x: Value, act: Activation): Value {
  switch (act) {
    case 'quick_gelu':
      return t.mul(x, t.op1('Sigmoid', [t.mul(x, t.constant(QUICK_GELU_ALPHA))], {}, { name: `${path}.sigmoid` }), path);
    case 'gelu':
      return t.mul(t.mul(x, t.add(erf(t, t.mul(x, t.constant(Math.SQRT1_2), `${path}.scale`), `${path}.erf`), t.constant(1))), t.constant(0.5), path);
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      const x3 = t.mul(t.mul(x, x), x);
      const inner = t.mul(t.add(x, t.mul(x3, t.constant(TANH_GELU_C))), t.constant(Math.sqrt(2 / Math.PI)));
      return t.mul(t.mul(x, t.add(t.op1('Tanh', [inner]), t.constant(1))), t.constant(0.5), path);
    }
    default:
      throw new Error(`training graph: activation ${String(act)}`);
  }
}

/** d act(x) / dx · dy, from x alone (closed forms). */
function activationGrad(t: Tape, path: string, x: Value, dy: Value, act: Activation): Value {
  const n = `${path}.grad`;
  const one = t.constant(1);
  let slope: Value;
  switch (act) {
    case 'quick_gelu': {
      // σ(αx)·(1 + αx·(1 − σ(αx)))
      const ax = t.mul(x, t.constant(QUICK_GELU_ALPHA), n);
      const s = t.op1('Sigmoid', [ax], {}, { name: n });
      slope = t.mul(s, t.add(one, t.mul(ax, t.sub(one, s, n), n), n), n);
      break;
    }
    case 'gelu': {
      // ½(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π)
      const cdf = t.mul(t.add(erf(t, t.mul(x, t.constant(Math.SQRT1_2), n), n), one, n), t.constant(0.5), n);
      const pdf = t.mul(t.op1('Exp', [t.mul(t.mul(x, x, n), t.constant(-0.5), n)], {}, { name: n }), t.constant(1 / Math.sqrt(2 * Math.PI)), n);
      slope = t.add(cdf, t.mul(x, pdf, n), n);
      break;
    }
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      // ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3c·x²), u = √(2/π)(x + c·x³)
      const k = Math.sqrt(2 / Math.PI);
      const x2 = t.mul(x, x, n);
      const th = t.op1('Tanh', [t.mul(t.mul(x, t.add(one, t.mul(x2, t.constant(TANH_GELU_C), n), n), n), t.constant(k), n)], {}, { name: n });
      const du = t.mul(t.add(one, t.mul(x2, t.constant(3 * TANH_GELU_C), n), n), t.constant(k), n);
      slope = t.mul(t.add(t.add(one, th, n), t.mul(t.mul(x, t.sub(one, t.mul(th, th, n), n), n), du, n), n), t.constant(0.5), n);
      break;
    }
    default:
      throw new Error(`training graph: activation ${String(act)}`);
  }
  return t.mul(dy, slope, n);
}

/**
 * The MLP activation as one composite op: the reverse pass keeps only its input (fc1's output) and recomputes the
 * activation's intermediates and output (fc2's input, for fc2's weight gradient) from it. The largest tensors of a
 * layer are [tokens, intermediate_size]; this keeps one of them per layer instead of three. The reverse pass reads x
 * through `after(x, [dy])`: read directly, ONNX Runtime's common-subexpression elimination would merge its
 * Sigmoid(αx) with the forward one and keep that alive instead.
 */
export function mlpActivation(t: Tape, path: string, x: Value, act: Activation): Value {
  const y = t.composite(
    [x],
    () => activationNodes(t, path, x, act),
    (tt, [xv], _y, dy) => [activationGrad(tt, path, tt.after(xv, [dy]), dy, act)],
    `${path}.composite`,
  );
  return t.recomputable(y, (anchor) => activationNodes(t, `${path}.recompute`, anchor(x), act));
}
