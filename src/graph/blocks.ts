/**
 * The CLIP pre-LN transformer block and its parts as ONNX subgraphs, shared by both towers.
 * Reference: transformers modeling_clip.py (CLIPAttention, CLIPMLP, CLIPEncoderLayer) as vendored by FG-CLIP v1
 * (V1/fgclip/model/clip_strc/modeling_clip.py:299-465), and fgclip.py:247-261 for the block without attention.
 * Dimension names: B batch, T tokens, D hidden, H heads, Dh = D/H, I MLP width.
 */
import type { Activation, TowerConfig } from '../config/types.js';
import { assertNever } from '../errors.js';
import type { GraphBuilder } from './onnx-builder.js';

/** Source of float32 weights in PyTorch layout; `get` checks the shape (the checkpoint was validated before). */
export interface WeightSource {
  get(name: string, shape: readonly number[]): Float32Array;
}

export interface Ctx {
  readonly g: GraphBuilder;
  readonly w: WeightSource;
}

/** PyTorch Linear weight [out, in] → MatMul operand [in, out], optionally scaled (folding a following constant Mul). */
export function transposeLinear(w: Float32Array, out: number, inp: number, scale = 1): Float32Array {
  const t = new Float32Array(out * inp);
  for (let o = 0; o < out; o++) {
    const row = o * inp;
    for (let i = 0; i < inp; i++) t[i * out + o] = w[row + i] * scale;
  }
  return t;
}

/**
 * y = x·Wᵀ + b for x [.., in] → [.., out]. `scale` multiplies weight and bias (used to fold the attention
 * q-scaling; exact when the scale is a power of two, as head_dim^-0.5 = 1/8 is for every released checkpoint).
 */
export function linear(c: Ctx, path: string, x: string, inp: number, out: number, bias = true, scale = 1): string {
  const W = c.g.weight(`${path}.weight`, transposeLinear(c.w.get(`${path}.weight`, [out, inp]), out, inp, scale), [inp, out]);
  const y = c.g.op1('MatMul', path, [x, W]);
  if (!bias) return y;
  let b = c.w.get(`${path}.bias`, [out]);
  if (scale !== 1) b = b.map((v) => v * scale);
  const B = c.g.weight(`${path}.bias`, b, [out]);
  return c.g.op1('Add', `${path}.bias_add`, [y, B]);
}

export function layerNorm(c: Ctx, path: string, x: string, D: number, eps: number): string {
  const s = c.g.weight(`${path}.weight`, c.w.get(`${path}.weight`, [D]), [D]);
  const b = c.g.weight(`${path}.bias`, c.w.get(`${path}.bias`, [D]), [D]);
  return c.g.op1('LayerNormalization', path, [x, s, b], { axis: -1, epsilon: { float: eps } });
}

/** ACT2FN of transformers for the activations CLIP configs use. */
export function activation(c: Ctx, path: string, x: string, act: Activation): string {
  const g = c.g;
  switch (act) {
    case 'quick_gelu': {
      // x * sigmoid(1.702 x)   (QuickGELUActivation)
      const k = g.scalar(`${path}.const_1702`, 1.702);
      const s = g.op1('Sigmoid', `${path}.sigmoid`, [g.op1('Mul', `${path}.scale`, [x, k])]);
      return g.op1('Mul', path, [x, s]);
    }
    case 'gelu': {
      // 0.5 x (1 + erf(x / sqrt 2))   (GELUActivation, exact)
      const r2 = g.scalar(`${path}.const_sqrt2`, Math.SQRT2);
      const one = g.scalar(`${path}.const_1`, 1);
      const half = g.scalar(`${path}.const_half`, 0.5);
      const e = g.op1('Erf', `${path}.erf`, [g.op1('Div', `${path}.div`, [x, r2])]);
      const p = g.op1('Mul', `${path}.mul`, [x, g.op1('Add', `${path}.add`, [e, one])]);
      return g.op1('Mul', path, [p, half]);
    }
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (NewGELUActivation / PytorchGELUTanh)
      const c1 = g.scalar(`${path}.const_c`, Math.sqrt(2 / Math.PI));
      const c2 = g.scalar(`${path}.const_k`, 0.044715);
      const one = g.scalar(`${path}.const_1`, 1);
      const half = g.scalar(`${path}.const_half`, 0.5);
      const x3 = g.op1('Mul', `${path}.x3`, [g.op1('Mul', `${path}.x2`, [x, x]), x]);
      const inner = g.op1('Mul', `${path}.inner`, [g.op1('Add', `${path}.sum`, [x, g.op1('Mul', `${path}.k`, [x3, c2])]), c1]);
      const t = g.op1('Add', `${path}.add`, [g.op1('Tanh', `${path}.tanh`, [inner]), one]);
      return g.op1('Mul', path, [g.op1('Mul', `${path}.mul`, [x, t]), half]);
    }
    default:
      return assertNever(act, `${path}: hidden_act`);
  }
}

export function mlp(c: Ctx, path: string, x: string, cfg: TowerConfig): string {
  const { hidden_size: D, intermediate_size: I } = cfg;
  const h = linear(c, `${path}.fc1`, x, D, I); // [B, T, I]
  const a = activation(c, `${path}.activation_fn`, h, cfg.hidden_act);
  return linear(c, `${path}.fc2`, a, I, D); // [B, T, D]
}

/**
 * Multi-head self-attention, q scaled before QKᵀ (modeling_clip.py:313-336). `mask` is an additive mask
 * broadcastable to [B, H, T, T] (the text tower's causal mask) or undefined.
 */
export function selfAttention(c: Ctx, path: string, x: string, cfg: TowerConfig, mask?: string): string {
  const g = c.g;
  const D = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const Dh = D / H;
  const q = linear(c, `${path}.q_proj`, x, D, D, true, Dh ** -0.5); // [B, T, D]
  const k = linear(c, `${path}.k_proj`, x, D, D); // [B, T, D]
  const v = linear(c, `${path}.v_proj`, x, D, D); // [B, T, D]
  const heads = g.int64(`${path}.heads_shape`, [0, 0, H, Dh]);
  const qh = g.op1('Transpose', `${path}.q_heads`, [g.op1('Reshape', `${path}.q_reshape`, [q, heads])], { perm: [0, 2, 1, 3] }); // [B, H, T, Dh]
  const kt = g.op1('Transpose', `${path}.k_heads`, [g.op1('Reshape', `${path}.k_reshape`, [k, heads])], { perm: [0, 2, 3, 1] }); // [B, H, Dh, T]
  const vh = g.op1('Transpose', `${path}.v_heads`, [g.op1('Reshape', `${path}.v_reshape`, [v, heads])], { perm: [0, 2, 1, 3] }); // [B, H, T, Dh]
  let w = g.op1('MatMul', `${path}.scores`, [qh, kt]); // [B, H, T, T]
  if (mask) w = g.op1('Add', `${path}.mask_add`, [w, mask]);
  const p = g.op1('Softmax', `${path}.softmax`, [w], { axis: -1 });
  const o = g.op1('MatMul', `${path}.context`, [p, vh]); // [B, H, T, Dh]
  const merged = g.op1('Reshape', `${path}.merge`, [
    g.op1('Transpose', `${path}.context_t`, [o], { perm: [0, 2, 1, 3] }), // [B, T, H, Dh]
    g.int64(`${path}.merge_shape`, [0, 0, D]),
  ]); // [B, T, D]
  return linear(c, `${path}.out_proj`, merged, D, D);
}

/** CLIPEncoderLayer: pre-LN attention and MLP with residuals. */
export function encoderLayer(c: Ctx, path: string, x: string, cfg: TowerConfig, mask?: string): string {
  const D = cfg.hidden_size;
  const eps = cfg.layer_norm_eps;
  const a = selfAttention(c, `${path}.self_attn`, layerNorm(c, `${path}.layer_norm1`, x, D, eps), cfg, mask);
  const r1 = c.g.op1('Add', `${path}.residual1`, [x, a]);
  const m = mlp(c, `${path}.mlp`, layerNorm(c, `${path}.layer_norm2`, r1, D, eps), cfg);
  return c.g.op1('Add', `${path}.residual2`, [r1, m]);
}

/**
 * The last block without attention (fgclip.py:247-261, `forward_without_attn`): the attention is replaced by
 * out_proj(v_proj(LN1(x))), which is what a token attending only to itself computes. Weights are the last
 * layer's own (shared initializers, so named under `${path}`); the nodes get a `.without_attn` suffix.
 */
export function encoderLayerWithoutAttn(c: Ctx, path: string, x: string, cfg: TowerConfig, shared: SharedLayerValues): string {
  const g = c.g;
  const p = `${path}.without_attn`;
  const eps = cfg.layer_norm_eps;
  const ln1 = g.op1('LayerNormalization', `${p}.layer_norm1`, [x, shared.ln1Scale, shared.ln1Bias], { axis: -1, epsilon: { float: eps } });
  const v = g.op1('Add', `${p}.v_proj.bias_add`, [g.op1('MatMul', `${p}.v_proj`, [ln1, shared.vW]), shared.vB]);
  const o = g.op1('Add', `${p}.out_proj.bias_add`, [g.op1('MatMul', `${p}.out_proj`, [v, shared.oW]), shared.oB]);
  const r1 = g.op1('Add', `${p}.residual1`, [x, o]);
  const ln2 = g.op1('LayerNormalization', `${p}.layer_norm2`, [r1, shared.ln2Scale, shared.ln2Bias], { axis: -1, epsilon: { float: eps } });
  const h = g.op1('Add', `${p}.mlp.fc1.bias_add`, [g.op1('MatMul', `${p}.mlp.fc1`, [ln2, shared.fc1W]), shared.fc1B]);
  const a = activation(c, `${p}.mlp.activation_fn`, h, cfg.hidden_act);
  const m = g.op1('Add', `${p}.mlp.fc2.bias_add`, [g.op1('MatMul', `${p}.mlp.fc2`, [a, shared.fc2W]), shared.fc2B]);
  return g.op1('Add', `${p}.residual2`, [r1, m]);
}

/** Initializer names of a layer built by `encoderLayer`, reused by `encoderLayerWithoutAttn`. */
export interface SharedLayerValues {
  ln1Scale: string;
  ln1Bias: string;
  vW: string;
  vB: string;
  oW: string;
  oB: string;
  ln2Scale: string;
  ln2Bias: string;
  fc1W: string;
  fc1B: string;
  fc2W: string;
  fc2B: string;
}

export function sharedLayerValues(path: string): SharedLayerValues {
  return {
    ln1Scale: `${path}.layer_norm1.weight`,
    ln1Bias: `${path}.layer_norm1.bias`,
    vW: `${path}.self_attn.v_proj.weight`,
    vB: `${path}.self_attn.v_proj.bias`,
    oW: `${path}.self_attn.out_proj.weight`,
    oB: `${path}.self_attn.out_proj.bias`,
    ln2Scale: `${path}.layer_norm2.weight`,
    ln2Bias: `${path}.layer_norm2.bias`,
    fc1W: `${path}.mlp.fc1.weight`,
    fc1B: `${path}.mlp.fc1.bias`,
    fc2W: `${path}.mlp.fc2.weight`,
    fc2B: `${path}.mlp.fc2.bias`,
  };
}
