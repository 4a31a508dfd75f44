/**
 * Text-tower inputs computed outside the graph: the ids, the position rows of the mode, the causal mask, and the
 * pooling rows.
 *  short (walk_short_pos=True):  position_embedding rows 0..T-1 (77-row table)          modeling_clip.py:272-296
 *  long  (walk_short_pos=False): position_embedding_ori rows 0..19, _res rows 20..247   (mask1/mask2 blend)
 * The sequence is cut after the last first-end-token of the batch: with a causal mask and first-eos pooling the
 * rows after it cannot reach any output, so the result equals the padded computation (text-inputs.test.ts).
 */
import type { FgClipConfig } from '../../config/types.js';
import { FgClipError } from '../../errors.js';

import type { TextMode } from '../types.js';

export type { TextMode };

/** float32 min, the additive mask value of the reference (torch.finfo(float32).min). */
const MASK_MIN = -3.4028234663852886e38;

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

export interface TextBatch {
  readonly ids: BigInt64Array; // [B, T]
  readonly positions: Float32Array; // [T, D]
  readonly mask: Float32Array; // [T, T]
  readonly poolIndex: BigInt64Array; // [B]
  readonly B: number;
  readonly T: number;
}

/**
 * `ids` rows must all have the same length: ≤ 77 in short mode, exactly 248 in long mode (as the reference
 * requires), each holding the end token. Set `cut` false to run the full padded length.
 */
export function prepareTextBatch(config: FgClipConfig, tables: TextTables, ids: readonly (readonly number[])[], mode: TextMode, cut = true): TextBatch {
  const tc = config.text_config;
  const D = tc.hidden_size;
  const B = ids.length;
  if (B === 0) throw new FgClipError('INPUT_INVALID', 'text batch: no token rows');
  const L = ids[0].length;
  const maxLen = mode === 'short' ? tc.max_position_embeddings : config.long_max_length;
  if (mode === 'short' ? L > maxLen : L !== maxLen) {
    throw new FgClipError('INPUT_INVALID', `text ${mode} mode: token rows must have ${mode === 'short' ? `at most ${maxLen}` : `exactly ${maxLen}`} ids (got ${L})`);
  }
  const eos = ids.map((row, b) => {
    if (row.length !== L) throw new FgClipError('INPUT_INVALID', `text batch: row ${b} has ${row.length} ids, row 0 has ${L}`);
    for (const id of row) {
      if (!Number.isInteger(id) || id < 0 || id >= tc.vocab_size) throw new FgClipError('INPUT_INVALID', `text batch: row ${b} has token id ${id} outside [0, ${tc.vocab_size})`);
    }
    const e = row.indexOf(tc.eos_token_id);
    // the reference's argmax of (ids == eos) gives 0 when there is no end token
    return e < 0 ? 0 : e;
  });
  const T = cut ? Math.max(...eos) + 1 : L;
  const table = mode === 'short' ? tables.shortPositions : tables.longPositions;
  const positions = table.subarray(0, T * D);
  const flat = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) flat[b * T + t] = BigInt(ids[b][t]);
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = MASK_MIN;
  const poolIndex = BigInt64Array.from(eos.map((e, b) => BigInt(b * T + e)));
  return { ids: flat, positions, mask, poolIndex, B, T };
}
