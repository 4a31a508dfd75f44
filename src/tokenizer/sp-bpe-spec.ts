/**
 * `SpBpeSpec`: a Hugging Face tokenizer.json of a SentencePiece-BPE model (Gemma, Llama, SigLIP 2, FG-CLIP 2),
 * validated and resolved. Supported, else TOKENIZER_INVALID naming the field:
 *  - model: BPE (byte_fallback, unk, fuse_unk, no dropout);
 *  - normalizer: null or (nested) Sequence of Replace (String, or a known Regex), Prepend, Strip, NFC/NFD/NFKC/NFKD,
 *    Lowercase — Gemma: `Replace(" " → "▁")`; Llama: `Sequence[Prepend("▁"), Replace(" " → "▁")]`;
 *  - pre_tokenizer: null, Metaspace (replacement, prepend_scheme always|first|never, split), Split with a String or
 *    known Regex pattern and any behaviour, or a Sequence of these — Gemma: `Split(" ", MergedWithPrevious)`;
 *  - post_processor: null or TemplateProcessing (`single` template with `$A` and special tokens);
 *  - decoder: null or (Sequence of) Replace, ByteFallback, Fuse, Strip — used by `decode`.
 * Nesting of Sequence sections is bounded (MAX_DEPTH) so a hostile file cannot exhaust the stack.
 */
import type { AddedToken } from './added-tokens.js';
import type { BpeOptions, MergeRule } from './bpe.js';
import { type FieldReader, tokenId, tokenizerFields, type JsonObject } from './json-check.js';
import { compileOnigPattern, knownRegexPatterns, literalPattern } from './patterns.js';
import { parseAddedTokens, parseBpeModel } from './tokenizer-spec.js';

/** deepest Sequence nesting accepted in any section */
export const MAX_DEPTH = 16;

export type SpNormalizerStep =
  | { readonly kind: 'unicode'; readonly form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD' }
  | { readonly kind: 'lowercase' }
  | { readonly kind: 'replace'; readonly pattern: RegExp; readonly content: string }
  | { readonly kind: 'prepend'; readonly prefix: string }
  | { readonly kind: 'strip'; readonly left: boolean; readonly right: boolean };

export type SplitBehaviour = 'removed' | 'isolated' | 'mergedwithprevious' | 'mergedwithnext' | 'contiguous';

export type SpPreTokenizerStep =
  | { readonly kind: 'metaspace'; readonly replacement: string; readonly prepend: 'always' | 'first' | 'never'; readonly split: boolean }
  | { readonly kind: 'split'; readonly pattern: RegExp; readonly behaviour: SplitBehaviour; readonly invert: boolean };

/** One template item: the text's tokens, or a special token's ids. */
export type TemplatePiece = { readonly kind: 'sequence' } | { readonly kind: 'special'; readonly token: string; readonly ids: readonly number[] };

export type SpDecoderStep =
  | { readonly kind: 'replace'; readonly pattern: string; readonly content: string }
  | { readonly kind: 'bytefallback' }
  | { readonly kind: 'fuse' }
  | { readonly kind: 'strip'; readonly content: string; readonly start: number; readonly stop: number };

export interface SpBpeSpec {
  readonly source: string;
  readonly vocab: ReadonlyMap<string, number>;
  readonly merges: readonly MergeRule[];
  readonly bpe: BpeOptions;
  readonly normalizer: readonly SpNormalizerStep[];
  readonly preTokenizer: readonly SpPreTokenizerStep[];
  readonly addedTokens: readonly AddedToken[];
  /** the `single` template; null post-processor = just the sequence */
  readonly template: readonly TemplatePiece[];
  readonly decoder: readonly SpDecoderStep[];
  /** `padding.pad_id` of the file, when it sets padding */
  readonly padId: number | undefined;
}

function pattern(check: FieldReader, x: unknown, field: string): { re: RegExp; literal: string | undefined } {
  const p = check.objectAt(x, field);
  if (typeof p.String === 'string' && p.String.length > 0) return { re: literalPattern(p.String), literal: p.String };
  if (typeof p.Regex === 'string') {
    const re = compileOnigPattern(p.Regex);
    if (re === undefined) {
      throw check.failAt(
        `${field}.Regex`,
        `is an unsupported regex (got ${JSON.stringify(p.Regex)})`,
        `Known patterns: ${knownRegexPatterns()
          .map((s) => JSON.stringify(s))
          .join(', ')}`,
      );
    }
    return { re, literal: undefined };
  }
  throw check.failAt(field, `has no usable pattern (expected {"String": "..."} or {"Regex": "..."}, got ${JSON.stringify(p)})`);
}

function sequence(check: FieldReader, n: JsonObject, key: string, field: string, depth: number): { item: unknown; field: string }[] {
  if (depth >= MAX_DEPTH) throw check.failAt(field, `nests Sequence deeper than ${MAX_DEPTH} levels`, 'Real tokenizer files nest one or two levels');
  return check.arrayAt(n[key], `${field}.${key}`).map((item, i) => ({ item, field: `${field}.${key}[${i}]` }));
}

function parseNormalizer(check: FieldReader, x: unknown, field: string, out: SpNormalizerStep[], depth = 0): void {
  if (x === null || x === undefined) return;
  const n = check.objectAt(x, field);
  const type = check.stringAt(n.type, `${field}.type`);
  switch (type) {
    case 'Sequence':
      for (const s of sequence(check, n, 'normalizers', field, depth)) parseNormalizer(check, s.item, s.field, out, depth + 1);
      return;
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      out.push({ kind: 'unicode', form: type });
      return;
    case 'Lowercase':
      out.push({ kind: 'lowercase' });
      return;
    case 'Replace':
      out.push({ kind: 'replace', pattern: pattern(check, n.pattern, `${field}.pattern`).re, content: check.stringAt(n.content, `${field}.content`) });
      return;
    case 'Prepend':
      out.push({ kind: 'prepend', prefix: check.stringAt(n.prepend, `${field}.prepend`) });
      return;
    case 'Strip':
      out.push({
        kind: 'strip',
        left: check.boolAt(n.strip_left, `${field}.strip_left`, true),
        right: check.boolAt(n.strip_right, `${field}.strip_right`, true),
      });
      return;
    default:
      throw check.failAt(
        `${field}.type`,
        `is an unsupported normalizer (got ${JSON.stringify(type)})`,
        'Supported: Sequence, Replace, Prepend, Strip, NFC, NFD, NFKC, NFKD, Lowercase',
      );
  }
}

const BEHAVIOURS: readonly SplitBehaviour[] = ['removed', 'isolated', 'mergedwithprevious', 'mergedwithnext', 'contiguous'];

function parsePreTokenizer(check: FieldReader, x: unknown, field: string, out: SpPreTokenizerStep[], depth = 0): void {
  if (x === null || x === undefined) return;
  const p = check.objectAt(x, field);
  const type = check.stringAt(p.type, `${field}.type`);
  if (type === 'Sequence') {
    for (const s of sequence(check, p, 'pretokenizers', field, depth)) parsePreTokenizer(check, s.item, s.field, out, depth + 1);
  } else if (type === 'Metaspace') {
    const replacement = check.stringAt(p.replacement ?? '▁', `${field}.replacement`, true);
    let prepend: 'always' | 'first' | 'never';
    if (p.prepend_scheme !== undefined && p.prepend_scheme !== null) {
      const s = check.stringAt(p.prepend_scheme, `${field}.prepend_scheme`);
      if (s !== 'always' && s !== 'first' && s !== 'never')
        throw check.failAt(`${field}.prepend_scheme`, `is unsupported (expected "always", "first" or "never", got ${JSON.stringify(s)})`);
      prepend = s;
    } else {
      // tokenizers < 0.15 files: add_prefix_space true ⇔ "always"
      prepend = check.boolAt(p.add_prefix_space, `${field}.add_prefix_space`, true) ? 'always' : 'never';
    }
    out.push({ kind: 'metaspace', replacement, prepend, split: check.boolAt(p.split, `${field}.split`, true) });
  } else if (type === 'Split') {
    const b = check.stringAt(p.behavior, `${field}.behavior`).toLowerCase() as SplitBehaviour;
    if (!BEHAVIOURS.includes(b))
      throw check.failAt(
        `${field}.behavior`,
        `is unsupported (got ${JSON.stringify(p.behavior)})`,
        'Expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous',
      );
    out.push({
      kind: 'split',
      pattern: pattern(check, p.pattern, `${field}.pattern`).re,
      behaviour: b,
      invert: check.boolAt(p.invert, `${field}.invert`, false),
    });
  } else {
    throw check.failAt(
      `${field}.type`,
      `is an unsupported pre-tokenizer here (got ${JSON.stringify(type)})`,
      'Supported for SentencePiece-BPE files: Metaspace, Split, Sequence',
    );
  }
}

function parseDecoder(check: FieldReader, x: unknown, field: string, out: SpDecoderStep[], depth = 0): void {
  if (x === null || x === undefined) return;
  const d = check.objectAt(x, field);
  const type = check.stringAt(d.type, `${field}.type`);
  switch (type) {
    case 'Sequence':
      for (const s of sequence(check, d, 'decoders', field, depth)) parseDecoder(check, s.item, s.field, out, depth + 1);
      return;
    case 'Replace': {
      const p = pattern(check, d.pattern, `${field}.pattern`);
      if (p.literal === undefined) throw check.failAt(`${field}.pattern`, 'is a regex (expected {"String": ...})');
      out.push({ kind: 'replace', pattern: p.literal, content: check.stringAt(d.content, `${field}.content`) });
      return;
    }
    case 'ByteFallback':
      out.push({ kind: 'bytefallback' });
      return;
    case 'Fuse':
      out.push({ kind: 'fuse' });
      return;
    case 'Strip':
      out.push({
        kind: 'strip',
        content: check.stringAt(d.content, `${field}.content`, true),
        start: tokenId(check, d.start, `${field}.start`),
        stop: tokenId(check, d.stop, `${field}.stop`),
      });
      return;
    default:
      throw check.failAt(`${field}.type`, `is an unsupported decoder (got ${JSON.stringify(type)})`, 'Supported: Sequence, Replace, ByteFallback, Fuse, Strip');
  }
}

/** `single` of a TemplateProcessing, with each special token's ids resolved from `special_tokens`. */
function parseTemplate(check: FieldReader, x: unknown): TemplatePiece[] {
  if (x === null || x === undefined) return [{ kind: 'sequence' }];
  const p = check.objectAt(x, 'post_processor');
  const type = check.stringAt(p.type, 'post_processor.type');
  if (type !== 'TemplateProcessing') throw check.failAt('post_processor.type', `is unsupported (expected "TemplateProcessing", got ${JSON.stringify(type)})`);
  const specials = check.objectAt(p.special_tokens ?? {}, 'post_processor.special_tokens');
  const pieces: TemplatePiece[] = [];
  check.arrayAt(p.single, 'post_processor.single').forEach((item, i) => {
    const f = `post_processor.single[${i}]`;
    const o = check.objectAt(item, f);
    if (o.Sequence !== undefined) {
      const id = check.stringAt(check.objectAt(o.Sequence, `${f}.Sequence`).id, `${f}.Sequence.id`);
      if (id !== 'A') throw check.failAt(`${f}.Sequence.id`, `is unsupported in a single template (expected "A", got ${JSON.stringify(id)})`);
      pieces.push({ kind: 'sequence' });
    } else if (o.SpecialToken !== undefined) {
      const token = check.stringAt(check.objectAt(o.SpecialToken, `${f}.SpecialToken`).id, `${f}.SpecialToken.id`, true);
      const entry = Object.hasOwn(specials, token) ? check.objectAt(specials[token], `post_processor.special_tokens[${JSON.stringify(token)}]`) : undefined;
      if (entry === undefined)
        throw check.failAt(`${f}.SpecialToken.id`, `names ${JSON.stringify(token)}, which post_processor.special_tokens does not define`);
      const ids = check
        .arrayAt(entry.ids, `post_processor.special_tokens[${JSON.stringify(token)}].ids`)
        .map((v, k) => tokenId(check, v, `post_processor.special_tokens[${JSON.stringify(token)}].ids[${k}]`));
      pieces.push({ kind: 'special', token, ids });
    } else {
      throw check.failAt(f, `is not a template piece (expected {"Sequence": ...} or {"SpecialToken": ...}, got ${JSON.stringify(o).slice(0, 60)})`);
    }
  });
  if (pieces.filter((q) => q.kind === 'sequence').length !== 1) throw check.failAt('post_processor.single', 'must contain $A exactly once');
  return pieces;
}

/** Validates a parsed SentencePiece-BPE tokenizer.json. */
export function parseSpBpeJson(json: unknown, source: string): SpBpeSpec {
  const check = tokenizerFields(source);
  const root = check.objectAt(json, '', 'Expected a Hugging Face tokenizer.json');
  const { vocab, merges, bpe } = parseBpeModel(check, root.model, true);
  const normalizer: SpNormalizerStep[] = [];
  parseNormalizer(check, root.normalizer, 'normalizer', normalizer);
  const preTokenizer: SpPreTokenizerStep[] = [];
  parsePreTokenizer(check, root.pre_tokenizer, 'pre_tokenizer', preTokenizer);
  const decoder: SpDecoderStep[] = [];
  parseDecoder(check, root.decoder, 'decoder', decoder);
  const padding = root.padding === undefined || root.padding === null ? undefined : check.objectAt(root.padding, 'padding');
  return {
    source,
    vocab,
    merges,
    bpe,
    normalizer,
    preTokenizer,
    addedTokens: parseAddedTokens(check, root.added_tokens),
    template: parseTemplate(check, root.post_processor),
    decoder,
    padId: padding === undefined ? undefined : tokenId(check, padding.pad_id, 'padding.pad_id'),
  };
}
