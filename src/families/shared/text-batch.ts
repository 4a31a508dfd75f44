/**
 * Text-tower inputs of the CLIP text graph (graph/clip-text.ts), computed outside it: the ids, the position rows of
 * the mode, the causal mask, and the pooling rows (first end token per row, as modeling_clip.py:825-844 pools).
 * The sequence is cut after the last first-end-token of the batch: with a causal mask and first-eos pooling the rows
 * after it cannot reach any output, so the result equals the padded computation (fgclip/text-inputs.test.ts).
 */
import { FgClipError } from '../../errors.js';
import type { TextLengths, TextMode } from '../types.js';

/** float32 min, the additive mask value of the reference (torch.finfo(float32).min). */
const MASK_MIN = -3.4028234663852886e38;

export interface TextBatchSpec {
  readonly hiddenSize: number;
  readonly vocabSize: number;
  readonly eosTokenId: number;
  /** ids per row: at most `short` in short mode, exactly `long` in long mode (as the reference requires) */
  readonly lengths: TextLengths;
}

/** Position rows per mode, [length, D] row-major. */
export interface PositionTables {
  readonly short: Float32Array;
  readonly long?: Float32Array;
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
 * `ids` rows must all have the same length, each holding the end token. Set `cut` false to run the full padded
 * length.
 */
export function prepareClipTextBatch(spec: TextBatchSpec, tables: PositionTables, ids: readonly (readonly number[])[], mode: TextMode, cut = true): TextBatch {
  const D = spec.hiddenSize;
  const B = ids.length;
  if (B === 0) throw new FgClipError('INPUT_INVALID', 'text batch: no token rows');
  const maxLen = mode === 'short' ? spec.lengths.short : spec.lengths.long;
  const table = mode === 'short' ? tables.short : tables.long;
  if (maxLen === undefined || table === undefined) throw new FgClipError('INPUT_INVALID', `text ${mode} mode: this model has no ${mode} text path`);
  const L = ids[0].length;
  if (mode === 'short' ? L > maxLen : L !== maxLen) {
    throw new FgClipError(
      'INPUT_INVALID',
      `text ${mode} mode: token rows must have ${mode === 'short' ? `at most ${maxLen}` : `exactly ${maxLen}`} ids (got ${L})`,
    );
  }
  const eos = ids.map((row, b) => {
    if (row.length !== L) throw new FgClipError('INPUT_INVALID', `text batch: row ${b} has ${row.length} ids, row 0 has ${L}`);
    for (const id of row) {
      if (!Number.isInteger(id) || id < 0 || id >= spec.vocabSize)
        throw new FgClipError('INPUT_INVALID', `text batch: row ${b} has token id ${id} outside [0, ${spec.vocabSize})`);
    }
    const e = row.indexOf(spec.eosTokenId);
    // the reference's argmax of (ids == eos) gives 0 when there is no end token
    return e < 0 ? 0 : e;
  });
  const T = cut ? Math.max(...eos) + 1 : L;
  const positions = table.subarray(0, T * D);
  const flat = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) flat[b * T + t] = BigInt(ids[b][t]);
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = MASK_MIN;
  const poolIndex = BigInt64Array.from(eos.map((e, b) => BigInt(b * T + e)));
  return { ids: flat, positions, mask, poolIndex, B, T };
}
