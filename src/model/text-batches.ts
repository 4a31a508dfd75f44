/**
 * encodeTexts' batching, shared by the Node handle (handle.ts), the browser worker (platform/browser/model.ts) and
 * the server's batching engine (src/server/engine.ts: it plans in the model's worker thread, then runs the plan
 * through its cross-request batchers):
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

/** How a list of captions is planned: the model's text paths and the caller's mode and truncation choice. */
export interface TextPlanOptions {
  readonly tokenizer: BatchTokenizer;
  /** the model's sequence length per mode; a mode without one is refused */
  readonly lengths: TextLengths;
  readonly mode: 'auto' | TextMode;
  /** for messages: the model family */
  readonly family: string;
  /**
   * true/undefined: a caption longer than its mode allows is cut (reported in `truncated`); false: INPUT_INVALID
   * naming it (`texts[3]: …`)
   */
  readonly truncate?: boolean;
  /** what messages call the list (default 'texts') */
  readonly field?: string;
}

/** Captions tokenized for their modes. Plain data: the server plans in its model worker and runs on its main thread. */
export interface TextPlan {
  /** tokens each caption has, bos/eos included, before truncation */
  readonly tokenCounts: number[];
  readonly modes: TextMode[];
  /** ids of each caption, cut/padded to its mode's length */
  readonly ids: number[][];
}

/** One tower call: token ids (each at most the mode's length) → one raw embedding per text. */
export type TextRun = (ids: readonly (readonly number[])[], mode: TextMode) => Promise<Float32Array[]>;

export interface TextBatchOptions extends TextPlanOptions {
  /** texts per tower call */
  readonly batchSize: number;
  readonly normalize: boolean;
  readonly run: TextRun;
}

export interface TextBatchResult {
  readonly embeddings: Float32Array[];
  readonly modes: TextMode[];
  readonly truncated: boolean[];
  readonly tokenCounts: number[];
}

const MODES: readonly TextMode[] = ['short', 'long', 'box'];

function lengthOf(lengths: TextLengths, mode: TextMode): number {
  return (mode === 'long' ? lengths.long : mode === 'box' ? lengths.box : lengths.short) ?? lengths.short;
}

/** Validates, counts tokens, picks each caption's mode and tokenizes it for that mode. */
export function planTextBatches(texts: readonly string[], o: TextPlanOptions): TextPlan {
  if (!Array.isArray(texts) || texts.length === 0) throw new FgClipError('INPUT_INVALID', 'encodeTexts: the list of texts is empty');
  if (texts.some((t) => typeof t !== 'string')) throw new FgClipError('INPUT_INVALID', 'encodeTexts: expected an array of strings');
  const m = o.mode;
  if (m !== 'auto' && !MODES.includes(m))
    throw new FgClipError('INPUT_INVALID', `encodeTexts: mode must be 'short', 'long', 'box' or 'auto' (got ${String(m)})`);
  const { short, long, box } = o.lengths;
  if (m === 'long' && long === undefined)
    throw new FgClipError('INPUT_INVALID', `encodeTexts: this ${o.family} model has no long-caption path; use mode 'short' or 'auto'`);
  if (m === 'box' && box === undefined)
    throw new FgClipError('INPUT_INVALID', `encodeTexts: this ${o.family} model has no box (region-text) path; use mode 'short' or 'auto'`);
  const tokenCounts = texts.map((t) => o.tokenizer.countTokens(t));
  const modes: TextMode[] = tokenCounts.map((n) => (m === 'auto' ? (n <= short || long === undefined ? 'short' : 'long') : m));
  if (o.truncate === false) {
    const over = tokenCounts.findIndex((n, i) => n > lengthOf(o.lengths, modes[i]));
    if (over >= 0) {
      const mode = modes[over];
      const hint = m === 'short' && long !== undefined ? ` (mode 'auto' or 'long' allows ${long})` : '';
      throw new FgClipError(
        'INPUT_INVALID',
        `${o.field ?? 'texts'}[${over}]: the text has ${tokenCounts[over]} tokens, over the ${lengthOf(o.lengths, mode)}-token limit of ${mode} mode${hint}. Shorten it or allow truncation.`,
      );
    }
  }
  const ids = texts.map((t, i) => [...o.tokenizer.encode(t, { maxLength: lengthOf(o.lengths, modes[i]) }).ids]);
  return { tokenCounts, modes, ids };
}

/**
 * Runs a plan and puts the (optionally L2-normalized) embeddings back in input order. Each mode's texts go
 * shortest first, `batchSize` per `run` call (absent: all of a mode's texts in one call, for a caller that batches
 * itself, like the server's engine); `concurrent` starts every mode at once instead of mode after mode.
 */
export async function runTextPlan(
  plan: TextPlan,
  o: { lengths: TextLengths; normalize: boolean; run: TextRun; batchSize?: number; concurrent?: boolean },
): Promise<TextBatchResult> {
  const embeddings: Float32Array[] = new Array(plan.ids.length);
  const one = async (mode: TextMode): Promise<void> => {
    const idx = plan.modes
      .map((x, i) => (x === mode ? i : -1))
      .filter((i) => i >= 0)
      .sort((a, b) => plan.tokenCounts[a] - plan.tokenCounts[b]);
    const step = o.batchSize ?? Math.max(1, idx.length);
    for (let s = 0; s < idx.length; s += step) {
      const part = idx.slice(s, s + step);
      const out = await o.run(
        part.map((i) => plan.ids[i]),
        mode,
      );
      if (out.length !== part.length) throw new FgClipError('RUNTIME', `encodeTexts: the text tower gave ${out.length} embeddings for ${part.length} texts`);
      part.forEach((i, k) => {
        embeddings[i] = o.normalize ? l2normalize(out[k]) : out[k];
      });
    }
  };
  if (o.concurrent) await Promise.all(MODES.map(one));
  else for (const mode of MODES) await one(mode);
  const truncated = plan.tokenCounts.map((n, i) => n > lengthOf(o.lengths, plan.modes[i]));
  return { embeddings, modes: plan.modes, truncated, tokenCounts: plan.tokenCounts };
}

export async function encodeTextBatches(texts: readonly string[], o: TextBatchOptions): Promise<TextBatchResult> {
  const plan = planTextBatches(texts, o);
  if (!(Number.isInteger(o.batchSize) && o.batchSize > 0))
    throw new FgClipError('INPUT_INVALID', `encodeTexts: batch size must be a positive integer (got ${o.batchSize})`);
  return runTextPlan(plan, o);
}
