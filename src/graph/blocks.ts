/**
 * The CLIP pre-LN transformer block and its parts as ONNX subgraphs, shared by both towers.
 * Reference: transformers modeling_clip.py (CLIPAttention, CLIPMLP, CLIPEncoderLayer) as vendored by FG-CLIP v1
 * (V1/fgclip/model/clip_strc/modeling_clip.py:299-465), and fgclip.py:247-261 for the block without attention.
 * Dimension names: B batch, T tokens, D hidden, H heads, Dh = D/H, I MLP width.
 */
import type { Activation, TowerConfig } from '../config/types.js';
import { assertNever } from '../errors.js';
import { MS_DOMAIN, type GraphBuilder } from './onnx-builder.js';

/** Source of float32 weights in PyTorch layout; `get` checks the shape (the checkpoint was validated before). */
export interface WeightSource {
  get(name: string, shape: readonly number[]): Float32Array;
}

/**
 * How linear layers of the encoders are stored and computed:
 *  fp32 — MatMul + Add, exact.
 *  int8 — weights quantized per output column, symmetric (scale = max|w|/127), activations quantized dynamically
 *         per tensor at run time (com.microsoft DynamicQuantizeMatMul). Approximate.
 *  fp16 — weights stored as float16 in the graph (half the bytes of a cached graph) and cast to float32 for
 *         the MatMul; ONNX Runtime folds the cast at load, so compute and memory are those of fp32.
 */
export type LinearDtype = 'fp32' | 'fp16' | 'int8';

/**
 * What a graph is built for: 'inference' (default: weights folded and transposed for speed, e.g. the q-scale in
 * q_proj, every Linear stored [in, out] under `<name>_transposed`) or 'train' (every initializer is a checkpoint
 * tensor under its checkpoint name, with its stored values and layout, no folds: a Linear's [out, in] weight is
 * transposed by a node in the graph and the q-scale is a Mul after q_proj, as modeling_clip.py computes it; so a
 * gradient with respect to an initializer is the gradient of that checkpoint tensor). Train mode is fp32 only.
 */
export type BuildMode = 'inference' | 'train';

/**
 * Makes `value` a graph output named after its module path (`vision_model.encoder.layers.3`), for builders asked for
 * intermediate outputs; the value itself is unchanged.
 */
export function exposeIntermediate(g: GraphBuilder, value: string, modulePath: string, dims: readonly (number | string)[]): void {
  g.alias(value, modulePath);
  g.output(modulePath, 'float', dims);
}

/** Checks a build mode and its linear dtype: 'train' keeps float32 checkpoint tensors, so it takes fp32 only. */
export function checkBuildMode(mode: BuildMode | undefined, dtype: LinearDtype | undefined): void {
  if (mode !== undefined && mode !== 'inference' && mode !== 'train') throw new Error(`graph build mode ${String(mode)}: expected 'inference' or 'train'`);
  if (mode === 'train' && dtype !== undefined && dtype !== 'fp32')
    throw new Error(`graph build mode 'train': linear dtype ${dtype} would not keep the checkpoint's tensors (train mode is fp32)`);
}

export interface Ctx {
  readonly g: GraphBuilder;
  readonly w: WeightSource;
  readonly dtype?: LinearDtype;
  /** default 'inference' */
  readonly mode?: BuildMode;
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
 * How a checkpoint tensor was remapped into an initializer. An initializer holding the checkpoint's values as stored
 * keeps the checkpoint's name; one holding remapped values gets its own name, `<checkpoint name>_<remap>`, so no
 * graph initializer carries a checkpoint name with other values (a reader of the graph, or a tool matching
 * initializers to checkpoint tensors, can tell them apart):
 *   'transposed'        Linear weight [out, in] → [in, out]
 *   'transposed_scaled' and multiplied by a folded constant (the attention q-scale in q_proj)
 *   'scaled'            a bias multiplied by a folded constant
 *   'interpolated'      a position table resized to another resolution
 *   'transposed_fp16', 'transposed_scaled_fp16'   the same, stored as float16
 */
export type Remap = 'transposed' | 'transposed_scaled' | 'scaled' | 'interpolated' | 'transposed_fp16' | 'transposed_scaled_fp16';

export function remappedName(checkpointName: string, remap: Remap): string {
  return `${checkpointName}_${remap}`;
}

/** The initializer names of one linear layer, so another path (the dense branch) can reuse the same weights. */
export interface LinearHandle {
  readonly kind: LinearDtype;
  readonly weight: string;
  readonly bias?: string;
  readonly scale?: string; // int8: per-column scales [out]
  /** train mode: a scalar the output is multiplied by (the unfolded q-scale) */
  readonly mulBy?: string;
}

/**
 * The [in, out] MatMul operand of a bias-free projection `name` (PyTorch [out, in]): inference stores it transposed
 * (`<name>.weight_transposed`); train stores the checkpoint tensor and transposes it in the graph.
 */
export function projectionWeight(c: Ctx, name: string, inp: number, out: number): string {
  const stored = c.w.get(`${name}.weight`, [out, inp]);
  if (c.mode === 'train') return c.g.op1('Transpose', `${name}.weight_t`, [c.g.weight(`${name}.weight`, stored, [out, inp])], { perm: [1, 0] });
  return c.g.weight(remappedName(`${name}.weight`, 'transposed'), transposeLinear(stored, out, inp), [inp, out]);
}

/**
 * Registers the weights of `path` (a PyTorch Linear [out, in]) in the graph. `scale` multiplies weight and bias
 * (used to fold the attention q-scaling; exact when the scale is a power of two, as head_dim^-0.5 = 1/8 is for
 * every released checkpoint).
 */
export function linearWeights(c: Ctx, path: string, inp: number, out: number, bias = true, scale = 1, kind: LinearDtype = c.dtype ?? 'fp32'): LinearHandle {
  if (c.mode === 'train') {
    const weight = projectionWeight(c, path, inp, out);
    const b = bias ? c.g.weight(`${path}.bias`, c.w.get(`${path}.bias`, [out]), [out]) : undefined;
    return { kind: 'fp32', weight, bias: b, ...(scale !== 1 ? { mulBy: c.g.scalar(`${path}.output_scale`, scale) } : {}) };
  }
  const wt = transposeLinear(c.w.get(`${path}.weight`, [out, inp]), out, inp, scale); // [in, out]
  let b: string | undefined;
  if (bias) {
    const bv = c.w.get(`${path}.bias`, [out]);
    b =
      scale === 1
        ? c.g.weight(`${path}.bias`, bv, [out])
        : c.g.weight(
            remappedName(`${path}.bias`, 'scaled'),
            bv.map((v) => v * scale),
            [out],
          );
  }
  switch (kind) {
    case 'fp32':
      return { kind, weight: c.g.weight(remappedName(`${path}.weight`, scale === 1 ? 'transposed' : 'transposed_scaled'), wt, [inp, out]), bias: b };
    case 'fp16':
      return {
        kind,
        weight: c.g.op1(
          'Cast',
          `${path}.weight_cast`,
          [c.g.float16(remappedName(`${path}.weight`, scale === 1 ? 'transposed_fp16' : 'transposed_scaled_fp16'), wt, [inp, out])],
          { to: 1 },
        ),
        bias: b,
      };
    case 'int8': {
      const { q, scales } = quantizeColumns(wt, inp, out);
      const qn = c.g.raw(`${path}.weight_quantized`, 'int8', [inp, out], new Uint8Array(q.buffer));
      return { kind, weight: qn, bias: b, scale: c.g.weight(`${path}.weight_scale`, scales, [out]) };
    }
    default:
      return assertNever(kind, `${path}: linear dtype`);
  }
}

/** Applies a registered linear layer to x [.., in] → [.., out]; the node is named `name`. */
export function applyLinear(c: Ctx, name: string, x: string, h: LinearHandle): string {
  if (h.kind === 'int8') {
    const inputs = [x, h.weight, h.scale ?? '', '', ...(h.bias ? [h.bias] : [])];
    return c.g.op1('DynamicQuantizeMatMul', name, inputs, {}, MS_DOMAIN);
  }
  const y = c.g.op1('MatMul', name, [x, h.weight]);
  const yb = h.bias ? c.g.op1('Add', `${name}.bias_add`, [y, h.bias]) : y;
  return h.mulBy ? c.g.op1('Mul', `${name}.scale`, [yb, h.mulBy]) : yb;
}

export function linear(c: Ctx, path: string, x: string, inp: number, out: number, bias = true, scale = 1): string {
  return applyLinear(c, path, x, linearWeights(c, path, inp, out, bias, scale));
}

/** Symmetric per-column int8 quantization of a [in, out] matrix: q = round(w / s), s = max|w[:, j]| / 127. */
function quantizeColumns(w: Float32Array, inp: number, out: number): { q: Int8Array; scales: Float32Array } {
  const scales = new Float32Array(out);
  for (let i = 0; i < inp; i++) {
    const r = i * out;
    for (let j = 0; j < out; j++) scales[j] = Math.max(scales[j], Math.abs(w[r + j]));
  }
  for (let j = 0; j < out; j++) scales[j] = scales[j] > 0 ? scales[j] / 127 : 1;
  const q = new Int8Array(inp * out);
  for (let i = 0; i < inp; i++) {
    const r = i * out;
    for (let j = 0; j < out; j++) q[r + j] = Math.max(-127, Math.min(127, Math.round(w[r + j] / scales[j])));
  }
  return { q, scales };
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

/** Weights of one encoder layer that the block without attention reuses. */
export interface LayerHandles {
  readonly v: LinearHandle;
  readonly out: LinearHandle;
  readonly fc1: LinearHandle;
  readonly fc2: LinearHandle;
  readonly path: string;
}

/** CLIPEncoderLayer: pre-LN attention and MLP with residuals. Returns the output and the reusable weights. */
export function encoderLayer(c: Ctx, path: string, x: string, cfg: TowerConfig, mask?: string): { out: string; handles: LayerHandles } {
  const g = c.g;
  const D = cfg.hidden_size;
  const I = cfg.intermediate_size;
  const H = cfg.num_attention_heads;
  const Dh = D / H;
  const eps = cfg.layer_norm_eps;
  const a = `${path}.self_attn`;
  const ln1 = layerNorm(c, `${path}.layer_norm1`, x, D, eps);
  // q is scaled before QKᵀ (modeling_clip.py:313-336); the scale is folded into q_proj
  const q = linear(c, `${a}.q_proj`, ln1, D, D, true, Dh ** -0.5); // [B, T, D]
  const k = linear(c, `${a}.k_proj`, ln1, D, D); // [B, T, D]
  const vH = linearWeights(c, `${a}.v_proj`, D, D);
  const v = applyLinear(c, `${a}.v_proj`, ln1, vH); // [B, T, D]
  const heads = g.int64(`${a}.heads_shape`, [0, 0, H, Dh]);
  const qh = g.op1('Transpose', `${a}.q_heads`, [g.op1('Reshape', `${a}.q_reshape`, [q, heads])], { perm: [0, 2, 1, 3] }); // [B, H, T, Dh]
  const kt = g.op1('Transpose', `${a}.k_heads`, [g.op1('Reshape', `${a}.k_reshape`, [k, heads])], { perm: [0, 2, 3, 1] }); // [B, H, Dh, T]
  const vh = g.op1('Transpose', `${a}.v_heads`, [g.op1('Reshape', `${a}.v_reshape`, [v, heads])], { perm: [0, 2, 1, 3] }); // [B, H, T, Dh]
  let w = g.op1('MatMul', `${a}.scores`, [qh, kt]); // [B, H, T, T]
  if (mask) w = g.op1('Add', `${a}.mask_add`, [w, mask]);
  const p = g.op1('Softmax', `${a}.softmax`, [w], { axis: -1 });
  const o = g.op1('MatMul', `${a}.context`, [p, vh]); // [B, H, T, Dh]
  const merged = g.op1('Reshape', `${a}.merge`, [
    g.op1('Transpose', `${a}.context_t`, [o], { perm: [0, 2, 1, 3] }), // [B, T, H, Dh]
    g.int64(`${a}.merge_shape`, [0, 0, D]),
  ]); // [B, T, D]
  const outH = linearWeights(c, `${a}.out_proj`, D, D);
  const r1 = g.op1('Add', `${path}.residual1`, [x, applyLinear(c, `${a}.out_proj`, merged, outH)]);
  const ln2 = layerNorm(c, `${path}.layer_norm2`, r1, D, eps);
  const fc1 = linearWeights(c, `${path}.mlp.fc1`, D, I);
  const act = activation(c, `${path}.mlp.activation_fn`, applyLinear(c, `${path}.mlp.fc1`, ln2, fc1), cfg.hidden_act); // [B, T, I]
  const fc2 = linearWeights(c, `${path}.mlp.fc2`, I, D);
  const out = g.op1('Add', `${path}.residual2`, [r1, applyLinear(c, `${path}.mlp.fc2`, act, fc2)]);
  return { out, handles: { v: vH, out: outH, fc1, fc2, path } };
}

/**
 * The last block without attention (fgclip.py:247-261, `forward_without_attn`): the attention is replaced by
 * out_proj(v_proj(LN1(x))), which is what a token attending only to itself computes. It reuses the last
 * layer's initializers; its nodes get a `.without_attn` suffix.
 */
export function encoderLayerWithoutAttn(c: Ctx, x: string, cfg: TowerConfig, h: LayerHandles): string {
  const g = c.g;
  const path = h.path;
  const p = `${path}.without_attn`;
  const eps = cfg.layer_norm_eps;
  const ln = (name: string, v: string) =>
    g.op1('LayerNormalization', `${p}.${name}`, [v, `${path}.${name}.weight`, `${path}.${name}.bias`], { axis: -1, epsilon: { float: eps } });
  const v = applyLinear(c, `${p}.v_proj`, ln('layer_norm1', x), h.v);
  const r1 = g.op1('Add', `${p}.residual1`, [x, applyLinear(c, `${p}.out_proj`, v, h.out)]);
  const a = activation(c, `${p}.mlp.activation_fn`, applyLinear(c, `${p}.mlp.fc1`, ln('layer_norm2', r1), h.fc1), cfg.hidden_act);
  return g.op1('Add', `${p}.residual2`, [r1, applyLinear(c, `${p}.mlp.fc2`, a, h.fc2)]);
}
