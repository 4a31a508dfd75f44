/**
 * `TokenizerSpec`: everything a CLIP-style tokenizer.json says, validated and resolved (merge rules to ids).
 * Parsed from a Hugging Face `tokenizer.json` here, or built from the slow-tokenizer files in slow-files.ts.
 *
 * Supported (and required to be what the file says, else TOKENIZER_INVALID): a BPE model; normalizers NFC/NFD/
 * NFKC/NFKD, Lowercase, Replace (literal or a known regex) in a Sequence; pre-tokenizer Split* then ByteLevel
 * (no prefix space); RobertaProcessing/BertProcessing post-processor; ByteLevel decoder. That is the layout
 * transformers' `CLIPConverter` writes. Anything else is rejected rather than approximated.
 */
import type { AddedToken } from './added-tokens.js';
import type { BpeOptions, MergeRule } from './bpe.js';
import { type FieldReader, mergePair, TOKENIZER_LIMITS, tokenId, tokenizerError, tokenizerFields, vocabTable, type JsonObject } from './json-check.js';
import type { NormalizerStep, UnicodeForm } from './normalize.js';
import { compileOnigPattern, knownRegexPatterns, literalPattern } from './patterns.js';
import type { PreTokenizerSpec, SplitBehavior, SplitStep } from './pretokenize.js';

export interface SpecialToken {
  readonly token: string;
  readonly id: number;
}

export interface TokenizerSpec {
  /** file name(s) the spec came from, for messages */
  readonly source: string;
  readonly normalizer: readonly NormalizerStep[];
  readonly preTokenizer: PreTokenizerSpec;
  readonly vocab: ReadonlyMap<string, number>;
  readonly merges: readonly MergeRule[];
  readonly bpe: BpeOptions;
  readonly addedTokens: readonly AddedToken[];
  /** post-processor `cls` (CLIP: <|startoftext|>) and `sep` (CLIP: <|endoftext|>) */
  readonly bos: SpecialToken;
  readonly eos: SpecialToken;
  /** padding id; CLIP's tokenizer_config pads with <|endoftext|> = eos */
  readonly padId: number;
}

/** Resolves merge pairs to ids (tokenizers `BpeBuilder::build`): both sides and their concatenation must be in the vocab. */
export function resolveMerges(
  pairs: readonly (readonly [string, string])[],
  vocab: ReadonlyMap<string, number>,
  continuingSubwordPrefix: string,
  check: FieldReader,
  field: (i: number) => string,
): MergeRule[] {
  const rules: MergeRule[] = new Array(pairs.length);
  for (let i = 0; i < pairs.length; i++) {
    const [a, b] = pairs[i];
    const merged = a + b.slice(continuingSubwordPrefix.length);
    const left = vocab.get(a);
    const right = vocab.get(b);
    const result = vocab.get(merged);
    const missing = left === undefined ? a : right === undefined ? b : result === undefined ? merged : undefined;
    if (missing !== undefined || left === undefined || right === undefined || result === undefined) {
      throw check.failAt(field(i), `uses ${JSON.stringify(missing)}, which is not in the vocab`, 'Vocab and merges must come from the same tokenizer');
    }
    rules[i] = { left, right, result };
  }
  return rules;
}

function parsePattern(check: FieldReader, x: unknown, field: string): RegExp {
  const p = check.objectAt(x, field);
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
    return re;
  }
  if (typeof p.String === 'string' && p.String.length > 0) return literalPattern(p.String);
  throw check.failAt(field, `has no usable pattern (expected {"Regex": "..."} or {"String": "..."}, got ${JSON.stringify(p)})`);
}

const UNICODE_FORMS: readonly string[] = ['NFC', 'NFD', 'NFKC', 'NFKD'];

function parseNormalizer(check: FieldReader, x: unknown, field: string, out: NormalizerStep[], depth = 0): void {
  if (x === null || x === undefined) return;
  const n = check.objectAt(x, field);
  const type = check.stringAt(n.type, `${field}.type`);
  if (type === 'Sequence') {
    if (depth >= TOKENIZER_LIMITS.nesting)
      throw check.failAt(field, `nests Sequence normalizers more than ${TOKENIZER_LIMITS.nesting} deep`, 'A CLIP tokenizer.json has one flat Sequence');
    check.arrayAt(n.normalizers, `${field}.normalizers`, 1024).forEach((s, i) => parseNormalizer(check, s, `${field}.normalizers[${i}]`, out, depth + 1));
  } else if (UNICODE_FORMS.includes(type)) {
    out.push({ kind: 'unicode', form: type as UnicodeForm });
  } else if (type === 'Lowercase') {
    out.push({ kind: 'lowercase' });
  } else if (type === 'Replace') {
    out.push({ kind: 'replace', pattern: parsePattern(check, n.pattern, `${field}.pattern`), content: check.stringAt(n.content, `${field}.content`) });
  } else {
    throw check.failAt(
      `${field}.type`,
      `is an unsupported normalizer (got ${JSON.stringify(type)})`,
      'Supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Replace',
    );
  }
}

function parsePreTokenizer(check: FieldReader, x: unknown, field: string): PreTokenizerSpec {
  const p = check.objectAt(x, field, 'A CLIP tokenizer.json has Sequence[Split, ByteLevel]');
  const type = check.stringAt(p.type, `${field}.type`);
  const steps: { obj: JsonObject; field: string }[] =
    type === 'Sequence'
      ? check
          .arrayAt(p.pretokenizers, `${field}.pretokenizers`, 1024)
          .map((s, i) => ({ obj: check.objectAt(s, `${field}.pretokenizers[${i}]`), field: `${field}.pretokenizers[${i}]` }))
      : [{ obj: p, field }];
  const splits: SplitStep[] = [];
  for (let i = 0; i < steps.length; i++) {
    const { obj, field: f } = steps[i];
    const t = check.stringAt(obj.type, `${f}.type`);
    const isLast = i === steps.length - 1;
    if (t === 'Split' && !isLast) {
      const behavior = check.stringAt(obj.behavior, `${f}.behavior`);
      if (behavior !== 'Removed' && behavior !== 'Isolated') {
        throw check.failAt(`${f}.behavior`, `is unsupported (expected "Removed" or "Isolated", got ${JSON.stringify(behavior)})`);
      }
      splits.push({
        pattern: parsePattern(check, obj.pattern, `${f}.pattern`),
        behavior: behavior.toLowerCase() as SplitBehavior,
        invert: check.boolAt(obj.invert, `${f}.invert`, false),
      });
    } else if (t === 'ByteLevel' && isLast) {
      if (check.boolAt(obj.add_prefix_space, `${f}.add_prefix_space`, true)) {
        throw check.failAt(`${f}.add_prefix_space`, 'is unsupported (expected false, got true)', 'CLIP adds no prefix space');
      }
      return { splits, byteLevelRegex: check.boolAt(obj.use_regex, `${f}.use_regex`, true) };
    } else {
      throw check.failAt(`${f}.type`, `is unsupported here (got ${JSON.stringify(t)})`, 'Expected Split steps followed by one final ByteLevel');
    }
  }
  throw check.failAt(field, 'has no ByteLevel step (expected Split steps followed by ByteLevel)');
}

function parseSpecialPair(check: FieldReader, x: unknown, field: string): SpecialToken {
  const a = check.arrayAt(x, field);
  if (a.length !== 2) throw check.failAt(field, `has the wrong shape (expected [token, id], got ${JSON.stringify(a)})`);
  return { token: check.stringAt(a[0], `${field}[0]`, true), id: tokenId(check, a[1], `${field}[1]`) };
}

/** `added_tokens` of a tokenizer.json (every field checked; `normalized` defaults to !special as in tokenizers). */
export function parseAddedTokens(check: FieldReader, x: unknown): AddedToken[] {
  if (x === undefined || x === null) return [];
  return check.arrayAt(x, 'added_tokens', TOKENIZER_LIMITS.addedTokens).map((t, i) => {
    const f = `added_tokens[${i}]`;
    const o = check.objectAt(t, f);
    const special = check.boolAt(o.special, `${f}.special`, false);
    return {
      id: tokenId(check, o.id, `${f}.id`),
      content: check.stringAt(o.content, `${f}.content`, true),
      special,
      normalized: check.boolAt(o.normalized, `${f}.normalized`, !special),
      lstrip: check.boolAt(o.lstrip, `${f}.lstrip`, false),
      rstrip: check.boolAt(o.rstrip, `${f}.rstrip`, false),
      singleWord: check.boolAt(o.single_word, `${f}.single_word`, false),
    };
  });
}

/**
 * The `model` section of a BPE tokenizer.json, shared by the CLIP and the SentencePiece-BPE readers (with the same
 * bounds); `byteFallback` says whether the caller's tokenizer implements byte fallback (CLIP's does not).
 */
export function parseBpeModel(check: FieldReader, x: unknown, byteFallback = false): { vocab: Map<string, number>; merges: MergeRule[]; bpe: BpeOptions } {
  const m = check.objectAt(x, 'model', 'A tokenizer.json has a "model" section with "vocab" and "merges"');
  if (m.type !== undefined && m.type !== 'BPE') {
    throw check.failAt('model.type', `is unsupported (expected "BPE", got ${JSON.stringify(m.type)})`);
  }
  if (m.dropout !== undefined && m.dropout !== null) {
    throw check.failAt('model.dropout', `is unsupported (expected null, got ${JSON.stringify(m.dropout)})`, 'BPE dropout is random; inference uses none');
  }
  const usesByteFallback = check.boolAt(m.byte_fallback, 'model.byte_fallback', false);
  if (usesByteFallback && !byteFallback) {
    throw check.failAt('model.byte_fallback', 'is unsupported (expected false, got true)');
  }
  const vocab = vocabTable(check, m.vocab, 'model.vocab');
  const pairs = check.arrayAt(m.merges, 'model.merges', TOKENIZER_LIMITS.merges).map((p, i) => mergePair(check, p, () => `model.merges[${i}]`));
  const prefix = check.optStringAt(m.continuing_subword_prefix, 'model.continuing_subword_prefix', '') as string;
  const suffix = check.optStringAt(m.end_of_word_suffix, 'model.end_of_word_suffix', '') as string;
  const unkToken = check.optStringAt(m.unk_token, 'model.unk_token', null);
  let unkId: number | null = null;
  if (unkToken !== null) {
    const id = vocab.get(unkToken);
    if (id === undefined) throw check.failAt('model.unk_token', `names ${JSON.stringify(unkToken)}, which is not in model.vocab`);
    unkId = id;
  }
  const merges = resolveMerges(pairs, vocab, prefix, check, (i) => `model.merges[${i}]`);
  const bpe: BpeOptions = {
    endOfWordSuffix: suffix,
    continuingSubwordPrefix: prefix,
    unkId,
    fuseUnk: check.boolAt(m.fuse_unk, 'model.fuse_unk', false),
    ignoreMerges: check.boolAt(m.ignore_merges, 'model.ignore_merges', false),
    ...(byteFallback ? { byteFallback: usesByteFallback } : {}),
  };
  return { vocab, merges, bpe };
}

/** Validates a parsed tokenizer.json. `padToken`, when given (tokenizer_config.json's), chooses the padding id. */
export function parseTokenizerJson(json: unknown, source: string, padToken?: string): TokenizerSpec {
  const check = tokenizerFields(source);
  const root = check.objectAt(json, '', 'Expected a Hugging Face tokenizer.json');
  const { vocab, merges, bpe } = parseBpeModel(check, root.model);
  const normalizer: NormalizerStep[] = [];
  parseNormalizer(check, root.normalizer, 'normalizer', normalizer);
  const preTokenizer = parsePreTokenizer(check, root.pre_tokenizer, 'pre_tokenizer');
  const addedTokens = parseAddedTokens(check, root.added_tokens);

  const post = check.objectAt(root.post_processor, 'post_processor', 'CLIP adds <|startoftext|> … <|endoftext|> through RobertaProcessing');
  const postType = check.stringAt(post.type, 'post_processor.type');
  if (postType !== 'RobertaProcessing' && postType !== 'BertProcessing') {
    throw check.failAt('post_processor.type', `is unsupported (expected "RobertaProcessing" or "BertProcessing", got ${JSON.stringify(postType)})`);
  }
  const bos = parseSpecialPair(check, post.cls, 'post_processor.cls');
  const eos = parseSpecialPair(check, post.sep, 'post_processor.sep');

  if (root.decoder !== undefined && root.decoder !== null) {
    const d = check.objectAt(root.decoder, 'decoder');
    if (d.type !== 'ByteLevel') throw check.failAt('decoder.type', `is unsupported (expected "ByteLevel", got ${JSON.stringify(d.type)})`);
  }

  const idOfToken = (content: string): number | undefined => addedTokens.find((t) => t.content === content)?.id ?? vocab.get(content);
  let padId = eos.id;
  if (padToken !== undefined) {
    const id = idOfToken(padToken);
    if (id === undefined) throw tokenizerError(source, 'pad_token', `names ${JSON.stringify(padToken)}, which is neither an added token nor in model.vocab`);
    padId = id;
  } else if (root.padding !== undefined && root.padding !== null) {
    padId = tokenId(check, check.objectAt(root.padding, 'padding').pad_id, 'padding.pad_id');
  }
  return { source, normalizer, preTokenizer, vocab, merges, bpe, addedTokens, bos, eos, padId };
}
