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
import { JsonChecker, TOKENIZER_LIMITS, tokenizerError, type JsonObject } from './json-check.js';
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
  check: JsonChecker,
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
      throw check.fail(field(i), `uses ${JSON.stringify(missing)}, which is not in the vocab`, 'Vocab and merges must come from the same tokenizer');
    }
    rules[i] = { left, right, result };
  }
  return rules;
}

function parsePattern(check: JsonChecker, x: unknown, field: string): RegExp {
  const p = check.object(x, field);
  if (typeof p.Regex === 'string') {
    const re = compileOnigPattern(p.Regex);
    if (re === undefined) {
      throw check.fail(`${field}.Regex`, `is an unsupported regex (got ${JSON.stringify(p.Regex)})`, `Known patterns: ${knownRegexPatterns().map((s) => JSON.stringify(s)).join(', ')}`);
    }
    return re;
  }
  if (typeof p.String === 'string' && p.String.length > 0) return literalPattern(p.String);
  throw check.fail(field, `has no usable pattern (expected {"Regex": "..."} or {"String": "..."}, got ${JSON.stringify(p)})`);
}

const UNICODE_FORMS: readonly string[] = ['NFC', 'NFD', 'NFKC', 'NFKD'];

function parseNormalizer(check: JsonChecker, x: unknown, field: string, out: NormalizerStep[], depth = 0): void {
  if (x === null || x === undefined) return;
  const n = check.object(x, field);
  const type = check.string(n.type, `${field}.type`);
  if (type === 'Sequence') {
    if (depth >= TOKENIZER_LIMITS.nesting) throw check.fail(field, `nests Sequence normalizers more than ${TOKENIZER_LIMITS.nesting} deep`, 'A CLIP tokenizer.json has one flat Sequence');
    check.array(n.normalizers, `${field}.normalizers`, 1024).forEach((s, i) => parseNormalizer(check, s, `${field}.normalizers[${i}]`, out, depth + 1));
  } else if (UNICODE_FORMS.includes(type)) {
    out.push({ kind: 'unicode', form: type as UnicodeForm });
  } else if (type === 'Lowercase') {
    out.push({ kind: 'lowercase' });
  } else if (type === 'Replace') {
    out.push({ kind: 'replace', pattern: parsePattern(check, n.pattern, `${field}.pattern`), content: check.string(n.content, `${field}.content`) });
  } else {
    throw check.fail(`${field}.type`, `is an unsupported normalizer (got ${JSON.stringify(type)})`, 'Supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Replace');
  }
}

function parsePreTokenizer(check: JsonChecker, x: unknown, field: string): PreTokenizerSpec {
  const p = check.object(x, field, 'A CLIP tokenizer.json has Sequence[Split, ByteLevel]');
  const type = check.string(p.type, `${field}.type`);
  const steps: { obj: JsonObject; field: string }[] =
    type === 'Sequence'
      ? check.array(p.pretokenizers, `${field}.pretokenizers`, 1024).map((s, i) => ({ obj: check.object(s, `${field}.pretokenizers[${i}]`), field: `${field}.pretokenizers[${i}]` }))
      : [{ obj: p, field }];
  const splits: SplitStep[] = [];
  for (let i = 0; i < steps.length; i++) {
    const { obj, field: f } = steps[i];
    const t = check.string(obj.type, `${f}.type`);
    const isLast = i === steps.length - 1;
    if (t === 'Split' && !isLast) {
      const behavior = check.string(obj.behavior, `${f}.behavior`);
      if (behavior !== 'Removed' && behavior !== 'Isolated') {
        throw check.fail(`${f}.behavior`, `is unsupported (expected "Removed" or "Isolated", got ${JSON.stringify(behavior)})`);
      }
      splits.push({
        pattern: parsePattern(check, obj.pattern, `${f}.pattern`),
        behavior: behavior.toLowerCase() as SplitBehavior,
        invert: check.bool(obj.invert, `${f}.invert`, false),
      });
    } else if (t === 'ByteLevel' && isLast) {
      if (check.bool(obj.add_prefix_space, `${f}.add_prefix_space`, true)) {
        throw check.fail(`${f}.add_prefix_space`, 'is unsupported (expected false, got true)', 'CLIP adds no prefix space');
      }
      return { splits, byteLevelRegex: check.bool(obj.use_regex, `${f}.use_regex`, true) };
    } else {
      throw check.fail(`${f}.type`, `is unsupported here (got ${JSON.stringify(t)})`, 'Expected Split steps followed by one final ByteLevel');
    }
  }
  throw check.fail(field, 'has no ByteLevel step (expected Split steps followed by ByteLevel)');
}

function parseSpecialPair(check: JsonChecker, x: unknown, field: string): SpecialToken {
  const a = check.array(x, field);
  if (a.length !== 2) throw check.fail(field, `has the wrong shape (expected [token, id], got ${JSON.stringify(a)})`);
  return { token: check.string(a[0], `${field}[0]`, true), id: check.id(a[1], `${field}[1]`) };
}

/** `added_tokens` of a tokenizer.json (every field checked; `normalized` defaults to !special as in tokenizers). */
export function parseAddedTokens(check: JsonChecker, x: unknown): AddedToken[] {
  if (x === undefined || x === null) return [];
  return check.array(x, 'added_tokens', TOKENIZER_LIMITS.addedTokens).map((t, i) => {
    const f = `added_tokens[${i}]`;
    const o = check.object(t, f);
    const special = check.bool(o.special, `${f}.special`, false);
    return {
      id: check.id(o.id, `${f}.id`),
      content: check.string(o.content, `${f}.content`, true),
      special,
      normalized: check.bool(o.normalized, `${f}.normalized`, !special),
      lstrip: check.bool(o.lstrip, `${f}.lstrip`, false),
      rstrip: check.bool(o.rstrip, `${f}.rstrip`, false),
      singleWord: check.bool(o.single_word, `${f}.single_word`, false),
    };
  });
}

/**
 * The `model` section of a BPE tokenizer.json, shared by the CLIP and the SentencePiece-BPE readers (with the same
 * bounds); `byteFallback` says whether the caller's tokenizer implements byte fallback (CLIP's does not).
 */
export function parseBpeModel(check: JsonChecker, x: unknown, byteFallback = false): { vocab: Map<string, number>; merges: MergeRule[]; bpe: BpeOptions } {
  const m = check.object(x, 'model', 'A tokenizer.json has a "model" section with "vocab" and "merges"');
  if (m.type !== undefined && m.type !== 'BPE') {
    throw check.fail('model.type', `is unsupported (expected "BPE", got ${JSON.stringify(m.type)})`);
  }
  if (m.dropout !== undefined && m.dropout !== null) {
    throw check.fail('model.dropout', `is unsupported (expected null, got ${JSON.stringify(m.dropout)})`, 'BPE dropout is random; inference uses none');
  }
  const usesByteFallback = check.bool(m.byte_fallback, 'model.byte_fallback', false);
  if (usesByteFallback && !byteFallback) {
    throw check.fail('model.byte_fallback', 'is unsupported (expected false, got true)');
  }
  const vocab = check.vocab(m.vocab, 'model.vocab');
  const pairs = check.array(m.merges, 'model.merges', TOKENIZER_LIMITS.merges).map((p, i) => check.mergePair(p, () => `model.merges[${i}]`));
  const prefix = check.optString(m.continuing_subword_prefix, 'model.continuing_subword_prefix', '') as string;
  const suffix = check.optString(m.end_of_word_suffix, 'model.end_of_word_suffix', '') as string;
  const unkToken = check.optString(m.unk_token, 'model.unk_token', null);
  let unkId: number | null = null;
  if (unkToken !== null) {
    const id = vocab.get(unkToken);
    if (id === undefined) throw check.fail('model.unk_token', `names ${JSON.stringify(unkToken)}, which is not in model.vocab`);
    unkId = id;
  }
  const merges = resolveMerges(pairs, vocab, prefix, check, (i) => `model.merges[${i}]`);
  const bpe: BpeOptions = {
    endOfWordSuffix: suffix,
    continuingSubwordPrefix: prefix,
    unkId,
    fuseUnk: check.bool(m.fuse_unk, 'model.fuse_unk', false),
    ignoreMerges: check.bool(m.ignore_merges, 'model.ignore_merges', false),
    ...(byteFallback ? { byteFallback: usesByteFallback } : {}),
  };
  return { vocab, merges, bpe };
}

/** Validates a parsed tokenizer.json. `padToken`, when given (tokenizer_config.json's), chooses the padding id. */
export function parseTokenizerJson(json: unknown, source: string, padToken?: string): TokenizerSpec {
  const check = new JsonChecker(source);
  const root = check.object(json, '', 'Expected a Hugging Face tokenizer.json');
  const { vocab, merges, bpe } = parseBpeModel(check, root.model);
  const normalizer: NormalizerStep[] = [];
  parseNormalizer(check, root.normalizer, 'normalizer', normalizer);
  const preTokenizer = parsePreTokenizer(check, root.pre_tokenizer, 'pre_tokenizer');
  const addedTokens = parseAddedTokens(check, root.added_tokens);

  const post = check.object(root.post_processor, 'post_processor', 'CLIP adds <|startoftext|> … <|endoftext|> through RobertaProcessing');
  const postType = check.string(post.type, 'post_processor.type');
  if (postType !== 'RobertaProcessing' && postType !== 'BertProcessing') {
    throw check.fail('post_processor.type', `is unsupported (expected "RobertaProcessing" or "BertProcessing", got ${JSON.stringify(postType)})`);
  }
  const bos = parseSpecialPair(check, post.cls, 'post_processor.cls');
  const eos = parseSpecialPair(check, post.sep, 'post_processor.sep');

  if (root.decoder !== undefined && root.decoder !== null) {
    const d = check.object(root.decoder, 'decoder');
    if (d.type !== 'ByteLevel') throw check.fail('decoder.type', `is unsupported (expected "ByteLevel", got ${JSON.stringify(d.type)})`);
  }

  const tokenId = (content: string): number | undefined => addedTokens.find((t) => t.content === content)?.id ?? vocab.get(content);
  let padId = eos.id;
  if (padToken !== undefined) {
    const id = tokenId(padToken);
    if (id === undefined) throw tokenizerError(source, 'pad_token', `names ${JSON.stringify(padToken)}, which is neither an added token nor in model.vocab`);
    padId = id;
  } else if (root.padding !== undefined && root.padding !== null) {
    padId = check.id(check.object(root.padding, 'padding').pad_id, 'padding.pad_id');
  }
  return { source, normalizer, preTokenizer, vocab, merges, bpe, addedTokens, bos, eos, padId };
}
