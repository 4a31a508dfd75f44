/**
 * FG-CLIP v1's text-input rules: the two position regimes of one text graph.
 *  short (walk_short_pos=True):  position_embedding rows 0..T-1 (77-row table)          modeling_clip.py:272-296
 *  long  (walk_short_pos=False): position_embedding_ori rows 0..19, _res rows 20..247   (mask1/mask2 blend)
 * The batch itself (ids, causal mask, pooling rows, the exact cut) is the CLIP rule of families/shared/text-batch.ts.
 */
import type { FgClipConfig } from '../../config/types.js';
import { prepareClipTextBatch, type TextBatch } from '../shared/text-batch.js';
import type { TextMode } from '../types.js';

export type { TextMode };
export type { TextBatch };

export interface TextTables {
  readonly shortPositions: Float32Array; // [77, D]
  readonly longPositions: Float32Array; // [248, D] = ori[0:20] ++ res[20:248]
}

export function buildLongPositions(ori: Float32Array, res: Float32Array, D: number, keep: number): Float32Array {
  const out = new Float32Array(res.length);
  out.set(res);
  out.set(ori.subarray(0, keep * D));
  return out;
}

/**
 * `ids` rows must all have the same length: ≤ 77 in short mode, exactly 248 in long mode (as the reference
 * requires), each holding the end token. Set `cut` false to run the full padded length.
 */
export function prepareTextBatch(config: FgClipConfig, tables: TextTables, ids: readonly (readonly number[])[], mode: TextMode, cut = true): TextBatch {
  const tc = config.text_config;
  const spec = {
    hiddenSize: tc.hidden_size,
    vocabSize: tc.vocab_size,
    eosTokenId: tc.eos_token_id,
    lengths: { short: tc.max_position_embeddings, long: config.long_max_length },
  };
  return prepareClipTextBatch(spec, { short: tables.shortPositions, long: tables.longPositions }, ids, mode, cut);
}
