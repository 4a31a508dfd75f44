/**
 * encodeTexts' batching, shared by the Node handle (handle.ts) and the browser worker (platform/browser/model.ts):
 * validate the mode, count tokens, pick each text's mode ('auto': the short table when it fits, else long), group the
 * texts by mode, sort each group shortest first so each batch is cut near its own length, tokenize and run the
 * batches through the platform's text tower (`run`), and put the (optionally L2-normalized) embeddings back in input
 * order. Platform-free: no Node or DOM API.
 */
import { FgClipError } from '../errors.js';
import { l2normalize } from '../postprocess/similarity.js';

/**
 * A text tower's modes and their sequence lengths: structurally families/types.ts' TextMode and TextLengths (that
 * module's type imports reach the Node runtime layer, so this platform-free module does not import it).
 */
type TextMode = 'short' | 'long' | 'box';
interface TextLengths {
  readonly short: number;
  readonly long?: number;
  readonly box?: number;
}

/** What the loop needs of a tokenizer (ClipTokenizer and the families' tokenizers have it). */
export interface BatchTokenizer {
  countTokens(text: string): number;
  encode(text: string, opts: { maxLength: number }): { readonly ids: readonly number[] };
}

export interface TextBatchOptions {
  readonly tokenizer: BatchTokenizer;
  /** the model's sequence length per mode; a mode without one is refused */
  readonly lengths: TextLengths;
  readonly mode: 'auto' | TextMode;
  /** texts per tower call */
  readonly batchSize: number;
  readonly normalize: boolean;
  /** for messages: the model family */
  readonly family: string;
  /** one tower call: token ids (each at most the mode's length) → one embedding per text */
  readonly run: (ids: readonly (readonly number[])[], mode: TextMode) => Promise<Float32Array[]>;
}

export interface TextBatchResult {
  readonly embeddings: Float32Array[];
  readonly modes: TextMode[];
  readonly truncated: boolean[];
  readonly tokenCounts: number[];
}

const MODES: readonly TextMode[] = ['short', 'long', 'box'];

export async function encodeTextBatches(texts: readonly string[], o: TextBatchOptions): Promise<TextBatchResult> {
  if (!Array.isArray(texts) || texts.length === 0) throw new FgClipError('INPUT_INVALID', 'encodeTexts: the list of texts is empty');
  if (texts.some((t) => typeof t !== 'string')) throw new FgClipError('INPUT_INVALID', 'encodeTexts: expected an array of strings');
  const m = o.mode;
  if (m !== 'auto' && !MODES.includes(m)) throw new FgClipError('INPUT_INVALID', `encodeTexts: mode must be 'short', 'long', 'box' or 'auto' (got ${String(m)})`);
  const { short, long, box } = o.lengths;
  if (m === 'long' && long === undefined) throw new FgClipError('INPUT_INVALID', `encodeTexts: this ${o.family} model has no long-caption path; use mode 'short' or 'auto'`);
  if (m === 'box' && box === undefined) throw new FgClipError('INPUT_INVALID', `encodeTexts: this ${o.family} model has no box (region-text) path; use mode 'short' or 'auto'`);
  if (!(Number.isInteger(o.batchSize) && o.batchSize > 0)) throw new FgClipError('INPUT_INVALID', `encodeTexts: batch size must be a positive integer (got ${o.batchSize})`);
  const lengthOf = (mode: TextMode): number => (mode === 'long' ? long : mode === 'box' ? box : short) ?? short;
  const tokenCounts = texts.map((t) => o.tokenizer.countTokens(t));
  const modes: TextMode[] = tokenCounts.map((n) => (m === 'auto' ? (n <= short || long === undefined ? 'short' : 'long') : m));
  const embeddings: Float32Array[] = new Array(texts.length);
  for (const mode of MODES) {
    const idx = modes
      .map((x, i) => (x === mode ? i : -1))
      .filter((i) => i >= 0)
      .sort((a, b) => tokenCounts[a] - tokenCounts[b]);
    const maxLength = lengthOf(mode);
    for (let s = 0; s < idx.length; s += o.batchSize) {
      const part = idx.slice(s, s + o.batchSize);
      const out = await o.run(
        part.map((i) => o.tokenizer.encode(texts[i], { maxLength }).ids),
        mode,
      );
      if (out.length !== part.length) throw new FgClipError('RUNTIME', `encodeTexts: the text tower gave ${out.length} embeddings for ${part.length} texts`);
      part.forEach((i, k) => {
        embeddings[i] = o.normalize ? l2normalize(out[k]) : out[k];
      });
    }
  }
  const truncated = tokenCounts.map((n, i) => n > lengthOf(modes[i]));
  return { embeddings, modes, truncated, tokenCounts };
}
