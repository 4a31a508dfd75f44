/**
 * FG-CLIP v1's text graph: the CLIP text encoder with two heads on the pooled state (fgclip.py:214-232):
 *   text_embeds_short [B, P]  text_projection       (walk_short_pos=True: 77-row position table)
 *   text_embeds_long  [B, P]  text_filip_projection (walk_short_pos=False: 248-row ori/res tables)
 */
import type { FgClipConfig } from '../../config/types.js';
import type { WeightSource } from '../../graph/blocks.js';
import { buildClipTextGraph, type TextGraphOptions } from '../../graph/clip-text.js';
import type { BuiltModel } from '../../graph/onnx-builder.js';

export { TEXT_INPUT_IDS, TEXT_MASK, TEXT_POOL_INDEX, TEXT_POSITIONS, type TextGraphOptions } from '../../graph/clip-text.js';
export const TEXT_EMBEDS_SHORT = 'text_embeds_short';
export const TEXT_EMBEDS_LONG = 'text_embeds_long';

export function buildTextGraph(config: FgClipConfig, w: WeightSource, opts: TextGraphOptions = {}): BuiltModel {
  const heads = [
    { module: 'text_projection', output: TEXT_EMBEDS_SHORT },
    { module: 'text_filip_projection', output: TEXT_EMBEDS_LONG },
  ];
  return buildClipTextGraph('fgclip_text', config, w, heads, opts);
}

/** The `positionsInGraph` option for a walk of FG-CLIP v1 (short: the 77-row table; long: ori/res, 248 rows). */
export function fgclipPositionsInGraph(config: FgClipConfig, walk: 'short' | 'long'): NonNullable<TextGraphOptions['positionsInGraph']> {
  return walk === 'short'
    ? { table: 'short', rows: config.text_config.max_position_embeddings }
    : { table: 'long', rows: config.long_max_length, keep: config.long_keep_length };
}
