/**
 * Pre-tokenizer of a tokenizer.json: zero or more `Split` steps, then `ByteLevel` (tokenizers/src/pre_tokenizers).
 * CLIP's is `Split(CLIP regex, behavior "Removed", invert true)` — keep each regex match as one word and drop
 * what lies between (only whitespace, since the regex covers every other character) — then
 * `ByteLevel(add_prefix_space false, use_regex true)`.
 */
import { byteLevelEncode } from './byte-level.js';
import { GPT2_SPLIT_PATTERN, compileOnigPattern } from './patterns.js';

/** tokenizers' `SplitDelimiterBehavior`, restricted to the two whose output is a plain list of pieces */
export type SplitBehavior = 'removed' | 'isolated';

export interface SplitStep {
  /** global unicode regex */
  readonly pattern: RegExp;
  readonly behavior: SplitBehavior;
  /** when true the non-matching stretches play the role of the matches (tokenizers' `Invert` pattern) */
  readonly invert: boolean;
}

export interface PreTokenizerSpec {
  readonly splits: readonly SplitStep[];
  /** `ByteLevel.use_regex`: split each piece with GPT-2's regex before the byte mapping */
  readonly byteLevelRegex: boolean;
}

/**
 * Pieces of `text` after one Split step. A "delimiter" is a regex match (or, inverted, a stretch between matches);
 * `removed` drops delimiters, `isolated` keeps them as pieces of their own. Empty pieces are dropped, as
 * `PreTokenizedString::split` does.
 */
function splitPieces(text: string, step: SplitStep, out: string[]): void {
  const { pattern, behavior, invert } = step;
  pattern.lastIndex = 0;
  let last = 0;
  const keepMatches = behavior === 'isolated' || invert;
  const keepGaps = behavior === 'isolated' || !invert;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      pattern.lastIndex = end + 1; // never loop on an empty match (the known patterns have none)
      continue;
    }
    if (keepGaps && start > last) out.push(text.slice(last, start));
    if (keepMatches) out.push(text.slice(start, end));
    last = end;
  }
  if (keepGaps && last < text.length) out.push(text.slice(last));
}

/** Words of one normalized, added-token-free stretch of text, before the byte mapping. */
export function preTokenize(spec: PreTokenizerSpec, text: string): string[] {
  let pieces = text.length > 0 ? [text] : [];
  for (const step of spec.splits) {
    const next: string[] = [];
    for (const p of pieces) splitPieces(p, step, next);
    pieces = next;
  }
  return pieces;
}

const GPT2_STEP: SplitStep = {
  pattern: compileOnigPattern(GPT2_SPLIT_PATTERN) as RegExp,
  behavior: 'isolated',
  invert: false,
};

/**
 * The `ByteLevel` step on one word: GPT-2 regex split when `use_regex` (for CLIP words it never splits further,
 * but the file asks for it), then UTF-8 bytes → byte-level characters.
 */
export function byteLevelWords(spec: PreTokenizerSpec, word: string): string[] {
  if (!spec.byteLevelRegex) return [byteLevelEncode(word)];
  const parts: string[] = [];
  splitPieces(word, GPT2_STEP, parts);
  return parts.map(byteLevelEncode);
}
