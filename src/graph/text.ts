/**
 * FG-CLIP v1 text encoder as an ONNX graph. Token and position embeddings are looked up outside the graph
 * (model/text-embeddings.ts) so the two position regimes (77-row short table; 248-row ori/res long tables) and
 * any sequence length share one graph. Inputs:
 *   inputs_embeds [B, T, Dt]  token + position embeddings
 *   causal_mask   [T, T]      additive, 0 on/below the diagonal, float32 min above (modeling_clip.py:741-755)
 *   pool_index    [B]         flat row b*T + (first eos position of b)   (modeling_clip.py:825-844)
 * Outputs (both projections of the pooled state; the caller picks by mode, fgclip.py:214-232):
 *   text_embeds_short [B, P]  text_projection       (walk_short_pos=True)
 *   text_embeds_long  [B, P]  text_filip_projection (walk_short_pos=False)
 * Because attention is causal and pooling reads the first end token, rows after the last end token of the batch
 * cannot change any output, so callers may cut T there (exact, see text-embeddings.test.ts).
 */
import type { FgClipConfig } from '../config/types.js';
import { encoderLayer, layerNorm, transposeLinear, type Ctx, type LinearDtype, type WeightSource } from './blocks.js';
import { GraphBuilder, type BuiltModel, type WeightSink } from './onnx-builder.js';

export const TEXT_INPUT = 'inputs_embeds';
export const TEXT_MASK = 'causal_mask';
export const TEXT_POOL_INDEX = 'pool_index';
export const TEXT_EMBEDS_SHORT = 'text_embeds_short';
export const TEXT_EMBEDS_LONG = 'text_embeds_long';

export function buildTextGraph(config: FgClipConfig, w: WeightSource, dtype: LinearDtype = 'fp32', sink?: WeightSink): BuiltModel {
  const tc = config.text_config;
  const D = tc.hidden_size;
  const P = config.projection_dim;
  const g = new GraphBuilder('fgclip_text', sink);
  const c: Ctx = { g, w, dtype };
  const tm = 'text_model';

  let x = g.input(TEXT_INPUT, 'float', ['B', 'T', D]);
  const mask = g.input(TEXT_MASK, 'float', ['T', 'T']);
  const poolIndex = g.input(TEXT_POOL_INDEX, 'int64', ['B']);
  for (let i = 0; i < tc.num_hidden_layers; i++) x = encoderLayer(c, `${tm}.encoder.layers.${i}`, x, tc, mask).out;

  // final_layer_norm is per token, so applying it to the pooled rows only is the same computation
  const rows = g.op1('Reshape', `${tm}.pool_flatten`, [x, g.int64(`${tm}.pool_flatten_shape`, [-1, D])]); // [B*T, D]
  const pooledRaw = g.op1('Gather', `${tm}.pool`, [rows, poolIndex], { axis: 0 }); // [B, D]
  const pooled = layerNorm(c, `${tm}.final_layer_norm`, pooledRaw, D, tc.layer_norm_eps);
  for (const [name, out] of [['text_projection', TEXT_EMBEDS_SHORT], ['text_filip_projection', TEXT_EMBEDS_LONG]] as const) {
    const W = g.weight(`${name}.weight`, transposeLinear(w.get(`${name}.weight`, [P, D]), P, D), [D, P]);
    g.alias(g.op1('MatMul', name, [pooled, W]), out);
    g.output(out, 'float', ['B', P]);
  }
  return g.build();
}
