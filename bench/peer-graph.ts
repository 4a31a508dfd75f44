/**
 * The peer's vision graph: HF `CLIPVisionModelWithProjection` written with the node pattern `torch.onnx.export`
 * (TorchScript exporter, opset 14, as Optimum exports CLIP for transformers.js) produces for it, from the same
 * checkpoint the library loads. No PyTorch on this machine, so the graph is assembled here, node for node as the
 * exporter traces modeling_clip.py's eager code:
 *   - embeddings: Conv (no bias) → flatten(2) as Shape/Slice/Concat/Reshape → Transpose; class token Expand to a
 *     shape built from Shape/Gather/Unsqueeze/Concat; Concat; + the position table (its Gather on the constant
 *     position_ids folded to a constant, as do_constant_folding does)
 *   - LayerNorm decomposed (opset < 17): ReduceMean, Sub, Pow, ReduceMean, Add eps, Sqrt, Div, Mul, Add
 *   - nn.Linear: MatMul with the transposed weight as an initializer, then Add bias
 *   - CLIPAttention (eager): q = (q_proj(x)) · scale as a separate Mul; `_shape` views and the (bsz·heads, -1, d)
 *     proj_shape as Reshapes whose shapes are computed at run time from Shape/Gather/Unsqueeze/Mul/Concat (dynamic
 *     batch axis); bmm with Kᵀ (Transpose) → Softmax(-1) → bmm → Reshape/Transpose/Reshape back
 *   - activations as traced: quick_gelu x·sigmoid(1.702x) (Mul, Sigmoid, Mul); gelu x·0.5·(1+erf(x/√2))
 *   - outputs image_embeds (CLS → post_layernorm → visual_projection) and last_hidden_state, as the exported
 *     CLIPVisionModelWithProjection has
 *   - weights embedded in the one .onnx file (under 2 GB, as the exporter writes it)
 * What it cannot reproduce: the exporter's exact value names and any constant-folding differences; ONNX Runtime
 * re-optimizes the graph at load ('all' level: LayerNorm, QuickGelu, bias and shape-chain fusions) in both cases.
 * The declared opset is the builder's (17); the node pattern is the opset-14 one.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { ClipConfig } from '../src/config/types.js';
import { GraphBuilder } from '../src/graph/onnx-builder.js';
import { transposeLinear } from '../src/graph/blocks.js';
import type { TensorMap } from '../src/weights/types.js';

const { onnx } = onnxProto;

export const PEER_INPUT = 'pixel_values';
export const PEER_IMAGE_EMBEDS = 'image_embeds';
export const PEER_LAST_HIDDEN = 'last_hidden_state';

/** Builds the exporter-pattern graph and returns one self-contained ONNX file's bytes (weights embedded). */
export function buildPeerVisionModel(config: ClipConfig, t: TensorMap): Uint8Array {
  const vc = config.vision_config;
  const D = vc.hidden_size;
  const H = vc.num_attention_heads;
  const Dh = D / H;
  const I = vc.intermediate_size;
  const P = config.projection_dim;
  const p = vc.patch_size;
  const S = vc.image_size;
  const N = (S / p) ** 2;
  const eps = vc.layer_norm_eps;
  const g = new GraphBuilder('main_graph');
  const get = (name: string): Float32Array => {
    const x = t.get(name);
    if (!x) throw new Error(`peer graph: ${name} missing in the checkpoint`);
    return x.data;
  };
  let k = 0;
  const c64 = (values: number[], dims: number[] = [values.length]) => g.int64(`/Constant_${k++}_output_0`, values, dims);
  const cf = (v: number) => g.scalar(`/Constant_${k++}_output_0`, v);
  const unsq = (name: string, x: string) => g.op1('Unsqueeze', name, [x, c64([0])]);

  const px = g.input(PEER_INPUT, 'float', ['batch_size', vc.num_channels, 'height', 'width']);
  const e = '/vision_model/embeddings';
  const conv = g.op1(
    'Conv',
    `${e}/patch_embedding/Conv`,
    [px, g.weight('vision_model.embeddings.patch_embedding.weight', get('vision_model.embeddings.patch_embedding.weight'), [D, vc.num_channels, p, p])],
    {
      dilations: [1, 1],
      group: 1,
      kernel_shape: [p, p],
      pads: [0, 0, 0, 0],
      strides: [p, p],
    },
  );
  // flatten(2): Shape → Slice[0:2] → Concat(-1) → Reshape
  const convShape = g.op1('Shape', `${e}/Shape`, [conv]);
  const head = g.op1('Slice', `${e}/Slice`, [convShape, c64([0]), c64([2]), c64([0])]);
  const flat = g.op1('Reshape', `${e}/Reshape`, [conv, g.op1('Concat', `${e}/Concat`, [head, c64([-1])], { axis: 0 })]);
  const patches = g.op1('Transpose', `${e}/Transpose`, [flat], { perm: [0, 2, 1] });
  const bsz0 = g.op1('Gather', `${e}/Gather`, [g.op1('Shape', `${e}/Shape_1`, [px]), c64([0], [])], { axis: 0 });
  const clsShape = g.op1('Concat', `${e}/Concat_1`, [unsq(`${e}/Unsqueeze`, bsz0), c64([1]), c64([D])], { axis: 0 });
  const cls = g.op1('Expand', `${e}/Expand`, [
    g.weight('vision_model.embeddings.class_embedding', get('vision_model.embeddings.class_embedding'), [D]),
    clsShape,
  ]);
  const tokens = g.op1('Concat', `${e}/Concat_2`, [cls, patches], { axis: 1 });
  let x = g.op1('Add', `${e}/Add`, [
    tokens,
    g.weight('/vision_model/embeddings/position_embedding/Gather_output_0', get('vision_model.embeddings.position_embedding.weight'), [1, N + 1, D]),
  ]);

  const layerNorm = (path: string, module: string, v: string): string => {
    const mean = g.op1('ReduceMean', `${path}/ReduceMean`, [v], { axes: [-1], keepdims: 1 });
    const d = g.op1('Sub', `${path}/Sub`, [v, mean]);
    const variance = g.op1('ReduceMean', `${path}/ReduceMean_1`, [g.op1('Pow', `${path}/Pow`, [d, cf(2)])], { axes: [-1], keepdims: 1 });
    const n = g.op1('Div', `${path}/Div`, [d, g.op1('Sqrt', `${path}/Sqrt`, [g.op1('Add', `${path}/Add`, [variance, cf(eps)])])]);
    const scaled = g.op1('Mul', `${path}/Mul`, [n, g.weight(`${module}.weight`, get(`${module}.weight`), [D])]);
    return g.op1('Add', `${path}/Add_1`, [scaled, g.weight(`${module}.bias`, get(`${module}.bias`), [D])]);
  };
  const linear = (path: string, module: string, v: string, inp: number, out: number, bias = true): string => {
    const w = g.weight(`onnx::MatMul_${module}`, transposeLinear(get(`${module}.weight`), out, inp), [inp, out]);
    const y = g.op1('MatMul', `${path}/MatMul`, [v, w]);
    return bias ? g.op1('Add', `${path}/Add`, [g.weight(`${module}.bias`, get(`${module}.bias`), [out]), y]) : y;
  };
  const activation = (path: string, v: string): string => {
    if (vc.hidden_act === 'quick_gelu')
      return g.op1('Mul', `${path}/Mul_1`, [v, g.op1('Sigmoid', `${path}/Sigmoid`, [g.op1('Mul', `${path}/Mul`, [v, cf(1.702)])])]);
    if (vc.hidden_act === 'gelu') {
      const erf = g.op1('Erf', `${path}/Erf`, [g.op1('Div', `${path}/Div`, [v, cf(Math.SQRT2)])]);
      return g.op1('Mul', `${path}/Mul_1`, [g.op1('Mul', `${path}/Mul`, [v, g.op1('Add', `${path}/Add`, [erf, cf(1)])]), cf(0.5)]);
    }
    throw new Error(`peer graph: hidden_act ${vc.hidden_act} not written`);
  };

  x = layerNorm('/vision_model/pre_layrnorm', 'vision_model.pre_layrnorm', x);
  for (let i = 0; i < vc.num_hidden_layers; i++) {
    const lp = `/vision_model/encoder/layers.${i}`;
    const lm = `vision_model.encoder.layers.${i}`;
    const a = `${lp}/self_attn`;
    const am = `${lm}.self_attn`;
    const h = layerNorm(`${lp}/layer_norm1`, `${lm}.layer_norm1`, x);
    const shape = g.op1('Shape', `${a}/Shape`, [h]);
    const bsz = g.op1('Gather', `${a}/Gather`, [shape, c64([0], [])], { axis: 0 });
    const tgt = g.op1('Gather', `${a}/Gather_1`, [g.op1('Shape', `${a}/Shape_1`, [h]), c64([1], [])], { axis: 0 });
    const q = g.op1('Mul', `${a}/Mul`, [linear(`${a}/q_proj`, `${am}.q_proj`, h, D, D), cf(Dh ** -0.5)]);
    // _shape(tensor, seq_len, bsz): view(bsz, seq_len, heads, d).transpose(1, 2)
    const split = (name: string, v: string, seq: string | undefined) => {
      const dims = g.op1(
        'Concat',
        `${a}/Concat_${name}`,
        [unsq(`${a}/Unsqueeze_${name}`, bsz), seq ? unsq(`${a}/Unsqueeze_${name}_seq`, seq) : c64([-1]), c64([H]), c64([Dh])],
        { axis: 0 },
      );
      return g.op1('Transpose', `${a}/Transpose_${name}`, [g.op1('Reshape', `${a}/Reshape_${name}`, [v, dims])], { perm: [0, 2, 1, 3] });
    };
    const kh = split('k', linear(`${a}/k_proj`, `${am}.k_proj`, h, D, D), undefined);
    const vh = split('v', linear(`${a}/v_proj`, `${am}.v_proj`, h, D, D), undefined);
    const qh = split('q', q, tgt);
    // proj_shape = (bsz * heads, -1, d)
    const bh = g.op1('Mul', `${a}/Mul_1`, [bsz, c64([H], [])]);
    const projShape = g.op1('Concat', `${a}/Concat_proj`, [unsq(`${a}/Unsqueeze_proj`, bh), c64([-1]), c64([Dh])], { axis: 0 });
    const q3 = g.op1('Reshape', `${a}/Reshape_q3`, [qh, projShape]);
    const k3 = g.op1('Reshape', `${a}/Reshape_k3`, [kh, projShape]);
    const v3 = g.op1('Reshape', `${a}/Reshape_v3`, [vh, projShape]);
    const scores = g.op1('MatMul', `${a}/MatMul`, [q3, g.op1('Transpose', `${a}/Transpose_kt`, [k3], { perm: [0, 2, 1] })]);
    const probs = g.op1('Softmax', `${a}/Softmax`, [scores], { axis: -1 });
    const ctx = g.op1('MatMul', `${a}/MatMul_1`, [probs, v3]);
    // view(bsz, heads, tgt, d).transpose(1, 2).reshape(bsz, tgt, embed)
    const ctx4 = g.op1('Reshape', `${a}/Reshape_ctx`, [
      ctx,
      g.op1('Concat', `${a}/Concat_ctx`, [unsq(`${a}/Unsqueeze_ctx_b`, bsz), c64([H]), unsq(`${a}/Unsqueeze_ctx_t`, tgt), c64([Dh])], { axis: 0 }),
    ]);
    const merged = g.op1('Reshape', `${a}/Reshape_out`, [
      g.op1('Transpose', `${a}/Transpose_ctx`, [ctx4], { perm: [0, 2, 1, 3] }),
      g.op1('Concat', `${a}/Concat_out`, [unsq(`${a}/Unsqueeze_out_b`, bsz), unsq(`${a}/Unsqueeze_out_t`, tgt), c64([D])], { axis: 0 }),
    ]);
    const r1 = g.op1('Add', `${lp}/Add`, [x, linear(`${a}/out_proj`, `${am}.out_proj`, merged, D, D)]);
    const h2 = layerNorm(`${lp}/layer_norm2`, `${lm}.layer_norm2`, r1);
    const f1 = activation(`${lp}/mlp/activation_fn`, linear(`${lp}/mlp/fc1`, `${lm}.mlp.fc1`, h2, D, I));
    x = g.op1('Add', `${lp}/Add_1`, [r1, linear(`${lp}/mlp/fc2`, `${lm}.mlp.fc2`, f1, I, D)]);
  }
  g.alias(x, PEER_LAST_HIDDEN);
  g.output(PEER_LAST_HIDDEN, 'float', ['batch_size', 'Addlast_hidden_state_dim_1', D]);
  const pooled = g.op1('Gather', '/vision_model/Gather', [x, c64([0], [])], { axis: 1 });
  const post = layerNorm('/vision_model/post_layernorm', 'vision_model.post_layernorm', pooled);
  g.alias(linear('/visual_projection', 'visual_projection', post, D, P, false), PEER_IMAGE_EMBEDS);
  g.output(PEER_IMAGE_EMBEDS, 'float', ['batch_size', P]);
  return embedWeights(g.build());
}

/** The builder keeps weights as external data; the exporter writes them inside the model file: move them in. */
function embedWeights(built: { model: Uint8Array; weights: Uint8Array | undefined }): Uint8Array {
  const weights = built.weights;
  if (!weights) throw new Error('peer graph: weights expected in memory');
  const m = onnx.ModelProto.decode(built.model);
  for (const init of m.graph?.initializer ?? []) {
    if (init.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const field = (key: string) => Number((init.externalData ?? []).find((d) => d.key === key)?.value);
    const offset = field('offset');
    init.rawData = weights.subarray(offset, offset + field('length'));
    init.externalData = [];
    init.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  }
  m.producerName = 'pytorch';
  return onnx.ModelProto.encode(m).finish();
}

/** Writes `vision_model.onnx` into `dir` (atomically) and returns its path. */
export function writePeerVisionModel(dir: string, config: ClipConfig, t: TensorMap): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'vision_model.onnx');
  writeFileSync(`${file}.partial`, buildPeerVisionModel(config, t));
  renameSync(`${file}.partial`, file);
  return file;
}
