/**
 * The CLIP text encoder (CLIPTextTransformer) as an ONNX graph, with one projection head per output; FG-CLIP v1
 * uses two heads (families/fgclip/text-graph.ts), plain CLIP one. The token embedding is gathered in the graph (its table stays in
 * ONNX Runtime's memory-mapped weights, so only the rows used become resident); the position rows are chosen
 * outside (families/shared/text-batch.ts) so the two position regimes (77-row short table; 248-row ori/res long tables) and
 * any sequence length share one graph. Inputs:
 *   input_ids       [B, T]     int64 token ids
 *   position_embeds [T, Dt]    rows 0..T-1 of the position table of the mode
 *   causal_mask   [T, T]      additive, 0 on/below the diagonal, float32 min above (modeling_clip.py:741-755)
 *   pool_index    [B]         flat row b*T + (first eos position of b)   (modeling_clip.py:825-844)
 * Outputs: one [B, P] projection of the pooled state per head (FG-CLIP: text_embeds_short = text_projection,
 * text_embeds_long = text_filip_projection; the caller picks by mode, fgclip.py:214-232).
 * Because attention is causal and pooling reads the first end token, rows after the last end token of the batch
 * cannot change any output, so callers may cut T there (exact, see families/fgclip/text-inputs.test.ts).
 */
import type { ClipConfig } from '../config/types.js';
import {
  checkBuildMode,
  encoderLayer,
  exposeIntermediate,
  layerNorm,
  projectionWeight,
  type BuildMode,
  type Ctx,
  type LinearDtype,
  type WeightSource,
} from './blocks.js';
import { GraphBuilder, type BuiltModel, type WeightSink } from './onnx-builder.js';

export const TEXT_INPUT_IDS = 'input_ids';
export const TEXT_POSITIONS = 'position_embeds';
export const TEXT_MASK = 'causal_mask';
export const TEXT_POOL_INDEX = 'pool_index';

export interface TextGraphOptions {
  /** storage/compute of the encoder's linear layers (default fp32, exact) */
  readonly dtype?: LinearDtype;
  /** where the weights go (default: memory) */
  readonly sink?: WeightSink;
  /** default 'inference' */
  readonly mode?: BuildMode;
  /**
   * also output every block's result, named after its module path: `text_model.embeddings` and
   * `text_model.encoder.layers.{i}` [B, T, D], `text_model.final_layer_norm` [B, D] (the pooled rows)
   */
  readonly intermediates?: boolean;
  /**
   * Select the position rows inside the graph from the checkpoint's tables (so they are initializers, e.g. parameters
   * of a train-mode graph) instead of taking them as the `position_embeds` input: 'short' takes rows 0..T-1 of
   * `text_model.embeddings.position_embedding.weight` [rows, D]; 'long' (FG-CLIP's 248-token walk) takes rows
   * 0..keep-1 of `position_embedding_ori.weight` and keep..T-1 of `position_embedding_res.weight` (both [rows, D]),
   * the table families/fgclip/text-inputs.ts `buildLongPositions` builds outside the graph.
   */
  readonly positionsInGraph?: { readonly table: 'short'; readonly rows: number } | { readonly table: 'long'; readonly rows: number; readonly keep: number };
}

/** A projection of the pooled text state: the checkpoint's Linear (no bias) `${module}.weight`, output `output`. */
export interface TextHead {
  readonly module: string;
  readonly output: string;
}

export function buildClipTextGraph(
  graphName: string,
  config: ClipConfig,
  w: WeightSource,
  heads: readonly TextHead[],
  opts: TextGraphOptions = {},
): BuiltModel {
  const tc = config.text_config;
  const D = tc.hidden_size;
  const P = config.projection_dim;
  checkBuildMode(opts.mode, opts.dtype);
  const g = new GraphBuilder(graphName, opts.sink);
  const c: Ctx = { g, w, dtype: opts.dtype, mode: opts.mode };
  const tm = 'text_model';

  const ids = g.input(TEXT_INPUT_IDS, 'int64', ['B', 'T']);
  const positions = opts.positionsInGraph ? positionRows(g, w, ids, D, opts.positionsInGraph) : g.input(TEXT_POSITIONS, 'float', ['T', D]);
  const tok = g.weight(`${tm}.embeddings.token_embedding.weight`, w.get(`${tm}.embeddings.token_embedding.weight`, [tc.vocab_size, D]), [tc.vocab_size, D]);
  const tokens = g.op1('Gather', `${tm}.embeddings.token_embedding`, [tok, ids], { axis: 0 }); // [B, T, D]
  let x = g.op1('Add', `${tm}.embeddings.position_add`, [tokens, positions]); // [B, T, D]
  const mask = g.input(TEXT_MASK, 'float', ['T', 'T']);
  const poolIndex = g.input(TEXT_POOL_INDEX, 'int64', ['B']);
  const expose = (v: string, path: string, dims: readonly (number | string)[]) => opts.intermediates && exposeIntermediate(g, v, path, dims);
  expose(x, `${tm}.embeddings`, ['B', 'T', D]);
  for (let i = 0; i < tc.num_hidden_layers; i++) {
    x = encoderLayer(c, `${tm}.encoder.layers.${i}`, x, tc, mask).out;
    expose(x, `${tm}.encoder.layers.${i}`, ['B', 'T', D]);
  }

  // final_layer_norm is per token, so applying it to the pooled rows only is the same computation
  const rows = g.op1('Reshape', `${tm}.pool_flatten`, [x, g.int64(`${tm}.pool_flatten_shape`, [-1, D])]); // [B*T, D]
  const pooledRaw = g.op1('Gather', `${tm}.pool`, [rows, poolIndex], { axis: 0 }); // [B, D]
  const pooled = layerNorm(c, `${tm}.final_layer_norm`, pooledRaw, D, tc.layer_norm_eps);
  expose(pooled, `${tm}.final_layer_norm`, ['B', D]);
  for (const { module: name, output: out } of heads) {
    g.alias(g.op1('MatMul', name, [pooled, projectionWeight(c, name, D, P)]), out);
    g.output(out, 'float', ['B', P]);
  }
  return g.build();
}

/** The [T, D] position rows of `TextGraphOptions.positionsInGraph`, T = the length of the `input_ids` rows. */
function positionRows(g: GraphBuilder, w: WeightSource, ids: string, D: number, p: NonNullable<TextGraphOptions['positionsInGraph']>): string {
  const emb = 'text_model.embeddings';
  const table = (name: string) => g.weight(`${emb}.${name}.weight`, w.get(`${emb}.${name}.weight`, [p.rows, D]), [p.rows, D]);
  const T = g.op1('Shape', `${emb}.position_count`, [ids], { start: 1, end: 2 }); // [1]
  const axis = g.int64(`${emb}.position_axis`, [0]);
  const zero = g.int64(`${emb}.position_start`, [0]);
  if (p.table === 'short') return g.op1('Slice', `${emb}.position_rows`, [table('position_embedding'), zero, T, axis]);
  // rows cut shorter than `keep` (the batch stops at its last end token) take ori rows only
  const keep = g.op1('Min', `${emb}.position_keep_rows`, [g.int64(`${emb}.position_keep`, [p.keep]), T]);
  const head = g.op1('Slice', `${emb}.position_rows_ori`, [table('position_embedding_ori'), zero, keep, axis]);
  const tail = g.op1('Slice', `${emb}.position_rows_res`, [table('position_embedding_res'), keep, T, axis]);
  return g.op1('Concat', `${emb}.position_rows`, [head, tail], { axis: 0 });
}
