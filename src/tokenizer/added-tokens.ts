/**
 * Added tokens (tokenizer.json `added_tokens`; tokenizers/src/tokenizer/added_vocabulary.rs). They are cut out of
 * the text before the model sees it, in two passes (`extract_and_normalize`):
 *   1. tokens with `normalized: false` are found in the raw text;
 *   2. each remaining stretch is normalized, then tokens with `normalized: true` are found in the normalized
 *      stretch, matched by their own normalized content.
 * CLIP's `<|startoftext|>`/`<|endoftext|>` are `normalized: true`, so after lowercasing `<|ENDOFTEXT|>` is the end
 * token too, and whitespace runs around them are already collapsed. Matching is leftmost-longest
 * (aho-corasick `MatchKind::LeftmostLongest`), non-overlapping; special tokens are always recognized
 * (`encode_special_tokens` is false in transformers' call).
 */

export interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
  readonly normalized: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly singleWord: boolean;
}

/** A stretch of text, or an added token already resolved to its id. */
export type Segment = { readonly text: string } | { readonly id: number };

/** Rust `char::is_whitespace` (White_Space property). */
const WHITE_SPACE = /\p{White_Space}/u;
/** Rust `char::is_alphanumeric` (Alphabetic or Numeric) at the end / start of a string. */
const ENDS_WITH_ALNUM = /[\p{Alphabetic}\p{N}]$/u;
const STARTS_WITH_ALNUM = /^[\p{Alphabetic}\p{N}]/u;

/** `single_word`: the match must not touch a letter or digit on either side. */
function isWordBoundaryOk(text: string, start: number, stop: number): boolean {
  return !ENDS_WITH_ALNUM.test(text.slice(0, start)) && !STARTS_WITH_ALNUM.test(text.slice(stop));
}

/** `patterns[i]` is the string matched for `tokens[i]` (its content, normalized when the token is). */
export interface AddedTokenMatcher {
  readonly tokens: readonly AddedToken[];
  readonly patterns: readonly string[];
}

/**
 * Splits `text` around every occurrence of the matcher's tokens (added_vocabulary.rs `find_matches`), applying
 * `single_word` (skip a match glued to a letter/digit), `lstrip`/`rstrip` (swallow adjacent whitespace).
 * Appends to `out`; empty text stretches are not emitted.
 */
export function splitOnAddedTokens(text: string, matcher: AddedTokenMatcher, out: Segment[]): void {
  const { tokens, patterns } = matcher;
  if (tokens.length === 0 || text.length === 0) {
    if (text.length > 0) out.push({ text });
    return;
  }
  let emitted = 0; // end of what has been emitted
  let searchFrom = 0;
  for (;;) {
    // leftmost start over all patterns; the longest pattern at that start
    let best = -1;
    let bestStart = Infinity;
    for (let i = 0; i < patterns.length; i++) {
      const at = text.indexOf(patterns[i], searchFrom);
      if (at === -1) continue;
      if (at < bestStart || (at === bestStart && patterns[i].length > patterns[best].length)) {
        best = i;
        bestStart = at;
      }
    }
    if (best === -1) break;
    const token = tokens[best];
    let start = bestStart;
    let stop = bestStart + patterns[best].length;
    searchFrom = stop;
    if (token.singleWord && !isWordBoundaryOk(text, start, stop)) continue;
    if (token.lstrip) {
      while (start > emitted && WHITE_SPACE.test(text[start - 1])) start--;
    }
    if (token.rstrip) {
      while (stop < text.length && WHITE_SPACE.test(text[stop])) stop++;
      searchFrom = stop;
    }
    if (start > emitted) out.push({ text: text.slice(emitted, start) });
    out.push({ id: token.id });
    emitted = stop;
  }
  if (emitted < text.length) out.push({ text: text.slice(emitted) });
}
