/**
 * FG-CLIP 2 towers as ONNX graphs (nodes named after the reference's module paths, modeling_fgclip2.py).
 *
 * Vision (one pass, per-image spatial shapes and padding masks in one batch):
 *   inputs  pixel_values [B, N, 3·p·p], pixel_attention_mask [B, N] (float 1/0),
 *           position_weights [B, N, G²] (naflex.ts positionResizeMatrix: the per-image antialiased resize of the grid)
 *   x = patch_embedding(pixel_values) + position_weights · position_embedding      (Fgclip2VisionEmbeddings)
 *   encoder layers with padded keys masked → post_layernorm
 *   image_embeds [B, D]    MAP head (vision_model.head: probe → nn.MultiheadAttention → x + MLP(LN(x)))
 *   dense_embeds [B, N, D] dense_feature_head with q = k = v = all tokens (get_image_dense_feature)
 * Text (bidirectional, pooled at the last position):
 *   inputs  inputs_embeds [B, L, D] (token rows, gathered outside the graph so the 256k-row table stays on disk),
 *           position_ids [L] into [short table (max_position_embeddings rows); long table (longtext_len rows)],
 *           attention_mask [B, L] (float; all ones = no mask)
 *   text_short = text_model.head(pooled), text_box = boxtext_head(pooled), text_long = longtext_head(pooled)
 */
import { activation, applyLinear, encoderLayer, layerNorm, linear, linearWeights, type Ctx, type LinearDtype, type WeightSource } from '../../graph/blocks.js';
import { GraphBuilder, type BuiltModel, type WeightSink } from '../../graph/onnx-builder.js';
import type { Fgclip2Config } from './config.js';

export const V2_PIXELS = 'pixel_values';
export const V2_PIXEL_MASK = 'pixel_attention_mask';
export const V2_POSITION_WEIGHTS = 'position_weights';
export const V2_IMAGE_EMBEDS = 'image_embeds';
export const V2_DENSE_EMBEDS = 'dense_embeds';
export const V2_TEXT_EMBEDS = 'inputs_embeds';
export const V2_POSITION_IDS = 'position_ids';
export const V2_TEXT_MASK = 'attention_mask';
export const V2_TEXT_OUTPUTS = { short: 'text_short', box: 'text_box', long: 'text_long' } as const;
export type Walk = keyof typeof V2_TEXT_OUTPUTS;

/** Large negative added to masked keys' scores (transformers uses finfo.min; any value that makes exp() 0 is equal). */
const MASKED = -1e30;

export interface V2GraphOptions {
  readonly dtype?: LinearDtype;
  readonly sink?: WeightSink;
  /** vision: also output dense_embeds (default true) */
  readonly dense?: boolean;
}

/**
 * `nn.MultiheadAttention` keeps q/k/v packed in `in_proj_weight` [3D, D] (rows q; k; v) and `in_proj_bias`; this
 * view exposes them as `<path>.q_proj.weight` etc. so the shared linear helpers apply.
 */
export function withPackedAttention(w: WeightSource, D: number): WeightSource {
  const slots = { q_proj: 0, k_proj: 1, v_proj: 2 } as const;
  // each packed tensor is read once from `w` (a weight reader records every read), then sliced
  const packed = new Map<string, Float32Array>();
  const once = (name: string, shape: readonly number[]) => {
    let t = packed.get(name);
    if (!t) packed.set(name, (t = w.get(name, shape)));
    return t;
  };
  return {
    get(name, shape) {
      const m = /^(.*\.attention)\.([qkv]_proj)\.(weight|bias)$/.exec(name);
      if (m === null) return w.get(name, shape);
      const k = slots[m[2] as keyof typeof slots];
      if (m[3] === 'weight') return once(`${m[1]}.in_proj_weight`, [3 * D, D]).slice(k * D * D, (k + 1) * D * D);
      return once(`${m[1]}.in_proj_bias`, [3 * D]).slice(k * D, (k + 1) * D);
    },
  };
}

/** [B, T] float mask (1 keep / 0 pad) → additive key bias [B, 1, 1, T]. */
function keyBias(c: Ctx, path: string, mask: string): string {
  const g = c.g;
  const inv = g.op1('Sub', `${path}.inverted`, [g.scalar(`${path}.one`, 1), mask]);
  const bias = g.op1('Mul', `${path}.bias`, [inv, g.scalar(`${path}.masked_value`, MASKED)]);
  return g.op1('Unsqueeze', `${path}.expand`, [bias, g.int64(`${path}.axes`, [1, 2])]);
}

/** Multi-head attention of queries `q` [B, Tq, D] (already projected and scaled) over `kv` [B, Tk, D]. */
function attendTo(c: Ctx, path: string, q: string, kv: string, D: number, H: number, bias: string): string {
  const g = c.g;
  const Dh = D / H;
  const k = linear(c, `${path}.k_proj`, kv, D, D);
  const v = linear(c, `${path}.v_proj`, kv, D, D);
  const heads = g.int64(`${path}.heads_shape`, [0, 0, H, Dh]);
  const qh = g.op1('Transpose', `${path}.q_heads`, [g.op1('Reshape', `${path}.q_reshape`, [q, heads])], { perm: [0, 2, 1, 3] });
  const kt = g.op1('Transpose', `${path}.k_heads`, [g.op1('Reshape', `${path}.k_reshape`, [k, heads])], { perm: [0, 2, 3, 1] });
  const vh = g.op1('Transpose', `${path}.v_heads`, [g.op1('Reshape', `${path}.v_reshape`, [v, heads])], { perm: [0, 2, 1, 3] });
  const s = g.op1('Add', `${path}.mask_add`, [g.op1('MatMul', `${path}.scores`, [qh, kt]), bias]);
  const o = g.op1('MatMul', `${path}.context`, [g.op1('Softmax', `${path}.softmax`, [s], { axis: -1 }), vh]);
  const merged = g.op1('Reshape', `${path}.merge`, [
    g.op1('Transpose', `${path}.context_t`, [o], { perm: [0, 2, 1, 3] }),
    g.int64(`${path}.merge_shape`, [0, 0, D]),
  ]);
  return linear(c, `${path}.out_proj`, merged, D, D);
}

/** `x + MLP(LN(x))` of a pooling head (Fgclip2MultiheadAttentionPoolingHead after its attention). */
function headMlp(c: Ctx, path: string, x: string, cfg: Fgclip2Config['vision_config']): string {
  const D = cfg.hidden_size;
  const I = cfg.intermediate_size;
  const ln = layerNorm(c, `${path}.layernorm`, x, D, cfg.layer_norm_eps);
  const fc1 = linearWeights(c, `${path}.mlp.fc1`, D, I);
  const a = activation(c, `${path}.mlp.activation_fn`, applyLinear(c, `${path}.mlp.fc1`, ln, fc1), cfg.hidden_act);
  return c.g.op1('Add', `${path}.residual`, [x, linear(c, `${path}.mlp.fc2`, a, I, D)]);
}

/** The MAP head's query is the learned probe, the same for every image: q = (probe·Wqᵀ + bq)·Dh^-½, in float64. */
function probeQuery(w: WeightSource, path: string, D: number, H: number): Float32Array {
  const probe = w.get(`${path}.probe`, [1, 1, D]);
  const Wq = w.get(`${path}.attention.q_proj.weight`, [D, D]);
  const bq = w.get(`${path}.attention.q_proj.bias`, [D]);
  const scale = (D / H) ** -0.5;
  const q = new Float32Array(D);
  for (let o = 0; o < D; o++) {
    let s = bq[o];
    for (let i = 0; i < D; i++) s += Wq[o * D + i] * probe[i];
    q[o] = s * scale;
  }
  return q;
}

export function buildV2VisionGraph(config: Fgclip2Config, weights: WeightSource, opts: V2GraphOptions = {}): BuiltModel {
  const vc = config.vision_config;
  const D = vc.hidden_size;
  const H = vc.num_attention_heads;
  const p = vc.patch_size;
  const G2 = vc.num_patches;
  const w = withPackedAttention(weights, D);
  const g = new GraphBuilder('fgclip2_vision', opts.sink);
  const c: Ctx = { g, w, dtype: opts.dtype };
  const vm = 'vision_model';

  const px = g.input(V2_PIXELS, 'float', ['B', 'N', 3 * p * p]);
  const mask = g.input(V2_PIXEL_MASK, 'float', ['B', 'N']);
  const posW = g.input(V2_POSITION_WEIGHTS, 'float', ['B', 'N', G2]);
  const patches = linear(c, `${vm}.embeddings.patch_embedding`, px, 3 * p * p, D);
  const table = g.weight(`${vm}.embeddings.position_embedding.weight`, w.get(`${vm}.embeddings.position_embedding.weight`, [G2, D]), [G2, D]);
  const pos = g.op1('MatMul', `${vm}.embeddings.resize_positional_embeddings`, [posW, table]);
  let x = g.op1('Add', `${vm}.embeddings`, [patches, pos]);
  const bias = keyBias(c, `${vm}.attention_mask`, mask);
  for (let i = 0; i < vc.num_hidden_layers; i++) x = encoderLayer(c, `${vm}.encoder.layers.${i}`, x, vc, bias).out;
  const last = layerNorm(c, `${vm}.post_layernorm`, x, D, vc.layer_norm_eps); // [B, N, D]

  // MAP head: one query (the probe) per image
  const hp = `${vm}.head`;
  const q = g.weight(`${hp}.attention.probe_query`, probeQuery(w, hp, D, H), [1, 1, D]);
  const attn = attendTo(c, `${hp}.attention`, q, last, D, H, bias); // [B, 1, D]
  const pooled = headMlp(c, hp, attn, vc);
  g.alias(g.op1('Squeeze', `${hp}.take_probe`, [pooled, g.int64(`${hp}.squeeze_axes`, [1])]), V2_IMAGE_EMBEDS);
  g.output(V2_IMAGE_EMBEDS, 'float', ['B', D]);

  if (opts.dense ?? true) {
    const dp = 'dense_feature_head';
    const dq = linear(c, `${dp}.attention.q_proj`, last, D, D, true, (D / H) ** -0.5);
    const dense = headMlp(c, dp, attendTo(c, `${dp}.attention`, dq, last, D, H, bias), vc);
    g.alias(dense, V2_DENSE_EMBEDS);
    g.output(V2_DENSE_EMBEDS, 'float', ['B', 'N', D]);
  }
  return g.build();
}

/**
 * The long-mode position table (Fgclip2TextEmbeddings with use_short_position_ids=False): rows < keep_len from
 * `position_embedding_ori`, the rest from `position_embedding_res` (the masks mask1/mask2 select rows).
 */
export function longPositionTable(w: WeightSource, config: Fgclip2Config): Float32Array {
  const tc = config.text_config;
  const D = tc.hidden_size;
  const L = tc.longtext_len;
  const ori = w.get('text_model.embeddings.position_embedding_ori.weight', [L, D]);
  const res = w.get('text_model.embeddings.position_embedding_res.weight', [L, D]);
  const out = res.slice();
  out.set(ori.subarray(0, tc.keep_len * D));
  return out;
}

export function buildV2TextGraph(config: Fgclip2Config, w: WeightSource, opts: V2GraphOptions = {}): BuiltModel {
  const tc = config.text_config;
  const D = tc.hidden_size;
  const S = tc.max_position_embeddings;
  const L = tc.longtext_len;
  const g = new GraphBuilder('fgclip2_text', opts.sink);
  const c: Ctx = { g, w, dtype: opts.dtype };
  const tm = 'text_model';
  const emb = g.input(V2_TEXT_EMBEDS, 'float', ['B', 'L', D]);
  const ids = g.input(V2_POSITION_IDS, 'int64', ['L']);
  const mask = g.input(V2_TEXT_MASK, 'float', ['B', 'L']);
  const both = new Float32Array((S + L) * D);
  both.set(w.get(`${tm}.embeddings.position_embedding.weight`, [S, D]));
  both.set(longPositionTable(w, config), S * D);
  const table = g.weight(`${tm}.embeddings.position_tables`, both, [S + L, D]);
  let x = g.op1('Add', `${tm}.embeddings`, [emb, g.op1('Gather', `${tm}.embeddings.position_embedding`, [table, ids], { axis: 0 })]);
  const bias = keyBias(c, `${tm}.attention_mask`, mask);
  for (let i = 0; i < tc.num_hidden_layers; i++) x = encoderLayer(c, `${tm}.encoder.layers.${i}`, x, tc, bias).out;
  const last = layerNorm(c, `${tm}.final_layer_norm`, x, D, tc.layer_norm_eps);
  const pooled = g.op1('Gather', `${tm}.pooled_last_position`, [last, g.int64(`${tm}.last_index`, [-1], [])], { axis: 1 }); // [B, D]
  const heads: Record<Walk, string> = { short: `${tm}.head`, box: 'boxtext_head', long: 'longtext_head' };
  for (const walk of ['short', 'box', 'long'] as const) {
    g.alias(linear(c, heads[walk], pooled, D, D), V2_TEXT_OUTPUTS[walk]);
    g.output(V2_TEXT_OUTPUTS[walk], 'float', ['B', D]);
  }
  return g.build();
}

/** position_ids for a walk: short/box use rows 0..L−1 of the short table; long uses all longtext_len rows. */
export function positionIds(config: Fgclip2Config, walk: Walk, L: number): BigInt64Array {
  const off = walk === 'long' ? config.text_config.max_position_embeddings : 0;
  return BigInt64Array.from({ length: L }, (_, i) => BigInt(off + i));
}
