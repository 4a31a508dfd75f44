/**
 * The regular expressions a tokenizer.json may name, translated from Oniguruma (what Rust `tokenizers` compiles
 * them with, `SysRegex` = onig) to JavaScript `u`-mode regexes with identical matches.
 *
 * We translate a closed table of known patterns rather than arbitrary ones: the two engines agree on `\p{L}`,
 * `\p{N}`, alternation order and lookahead, but not on `\s` (see `ONIG_SPACE`), `\w`, `\d`, `.` or inline flags,
 * and a silently different split would give plausible but wrong ids.
 */

/**
 * Oniguruma's Unicode `\s`: U+0009–U+000D, U+0085 and the Zs/Zl/Zp categories (Oniguruma doc/RE, "Character
 * types"). JavaScript's `\s` differs: it also matches U+FEFF and does not match U+0085.
 * A character-class body, for use inside `[...]` / `[^...]`.
 */
const ONIG_SPACE = '\\t\\n\\v\\f\\r\\x85\\p{Zs}\\p{Zl}\\p{Zp}';

/** CLIP's pre-tokenizer split (transformers `CLIPConverter`); no case-insensitive flag in tokenizer.json. */
export const CLIP_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** GPT-2's pre-tokenizer regex, used by `ByteLevel` with `use_regex: true` (byte_level.rs `RE`). */
export const GPT2_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** CLIP's whitespace-collapsing normalizer pattern. */
export const WHITESPACE_RUN_PATTERN = '\\s+';

const S = ONIG_SPACE;

/** onig source (exactly as written in tokenizer.json) → JavaScript regex source with the same matches. */
const KNOWN_REGEXES: ReadonlyMap<string, string> = new Map([
  [CLIP_SPLIT_PATTERN, `'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${S}\\p{L}\\p{N}]+`],
  [GPT2_SPLIT_PATTERN, `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${S}\\p{L}\\p{N}]+|[${S}]+(?![^${S}])|[${S}]+`],
  [WHITESPACE_RUN_PATTERN, `[${S}]+`],
]);

export function knownRegexPatterns(): string[] {
  return [...KNOWN_REGEXES.keys()];
}

/** A global, unicode JS regex equivalent to the onig pattern, or undefined when the pattern is not in the table. */
export function compileOnigPattern(onig: string): RegExp | undefined {
  const js = KNOWN_REGEXES.get(onig);
  return js === undefined ? undefined : new RegExp(js, 'gu');
}

/** A global regex matching the literal string `s` (tokenizers' `{ "String": s }` patterns). */
export function literalPattern(s: string): RegExp {
  return new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'gu');
}
