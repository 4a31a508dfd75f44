/**
 * A `TokenizerSpec` from the slow-tokenizer files `vocab.json` + `merges.txt`, as transformers builds the fast
 * tokenizer from them when a checkpoint has no tokenizer.json (`CLIPConverter`, convert_slow_tokenizer.py): the
 * same normalizer, pre-tokenizer, BPE options and post-processor as a CLIP tokenizer.json, with the special tokens
 * added as `normalized: true` added tokens (as in the checkpoints' tokenizer.json).
 */
import type { AddedToken } from './added-tokens.js';
import { isObject, tokenizerFields, vocabTable } from './json-check.js';
import type { NormalizerStep } from './normalize.js';
import { CLIP_SPLIT_PATTERN, WHITESPACE_RUN_PATTERN, compileOnigPattern } from './patterns.js';
import { resolveMerges, type TokenizerSpec } from './tokenizer-spec.js';

/** Special-token strings (special_tokens_map.json / tokenizer_config.json); defaults are CLIP's. */
export interface SpecialTokenNames {
  readonly bos: string;
  readonly eos: string;
  readonly unk: string;
  readonly pad: string;
}

export const CLIP_SPECIAL_TOKENS: SpecialTokenNames = {
  bos: '<|startoftext|>',
  eos: '<|endoftext|>',
  unk: '<|endoftext|>',
  pad: '<|endoftext|>',
};

/**
 * CLIPTokenizer keeps merges.txt lines [1, 49152 − 256 − 2 + 1): line 0 is the "#version" header and CLIP's BPE
 * has 49152 − 256 − 2 = 48,894 merges (tokenization_clip.py); extra lines are ignored there, so here too.
 */
const CLIP_MERGE_COUNT = 49152 - 256 - 2;

/**
 * Reads a special-token entry of special_tokens_map.json / tokenizer_config.json: a string, or a serialized
 * AddedToken object with a `content` string.
 */
export function specialTokenName(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (isObject(x) && typeof x.content === 'string') return x.content;
  return undefined;
}

function parseMergesTxt(text: string, source: string): [string, string][] {
  const check = tokenizerFields(source);
  const lines = text.replace(/\r\n?/g, '\n').trim().split('\n');
  const body = lines.slice(1, 1 + CLIP_MERGE_COUNT);
  return body.map((line, i) => {
    const parts = line.split(/\s+/).filter((p) => p.length > 0);
    if (parts.length !== 2) throw check.failAt(`line ${i + 2}`, `is not a merge rule (expected "left right", got ${JSON.stringify(line)})`);
    return [parts[0], parts[1]];
  });
}

export function specFromSlowFiles(
  vocabJson: unknown,
  mergesText: string,
  sources: { readonly vocab: string; readonly merges: string },
  names: SpecialTokenNames = CLIP_SPECIAL_TOKENS,
): TokenizerSpec {
  const vocabCheck = tokenizerFields(sources.vocab);
  const vocab = vocabTable(vocabCheck, vocabJson, '');
  const pairs = parseMergesTxt(mergesText, sources.merges);
  const merges = resolveMerges(pairs, vocab, '', tokenizerFields(`${sources.merges} (with ${sources.vocab})`), (i) => `line ${i + 2}`);

  const idOf = (role: keyof SpecialTokenNames): number => {
    const id = vocab.get(names[role]);
    if (id === undefined) {
      throw vocabCheck.failAt('', `has no ${role} token ${JSON.stringify(names[role])} (expected it among the vocab entries)`, 'Check special_tokens_map.json');
    }
    return id;
  };
  const bos = { token: names.bos, id: idOf('bos') };
  const eos = { token: names.eos, id: idOf('eos') };
  const unkId = idOf('unk');
  const padId = idOf('pad');

  const addedTokens: AddedToken[] = [];
  for (const role of ['bos', 'eos', 'unk', 'pad'] as const) {
    const content = names[role];
    if (addedTokens.some((t) => t.content === content)) continue;
    addedTokens.push({ id: idOf(role), content, special: true, normalized: true, lstrip: false, rstrip: false, singleWord: false });
  }

  const normalizer: NormalizerStep[] = [
    { kind: 'unicode', form: 'NFC' },
    { kind: 'replace', pattern: compileOnigPattern(WHITESPACE_RUN_PATTERN) as RegExp, content: ' ' },
    { kind: 'lowercase' },
  ];
  return {
    source: `${sources.vocab} + ${sources.merges}`,
    normalizer,
    preTokenizer: {
      splits: [{ pattern: compileOnigPattern(CLIP_SPLIT_PATTERN) as RegExp, behavior: 'removed', invert: true }],
      byteLevelRegex: true,
    },
    vocab,
    merges,
    bpe: { endOfWordSuffix: '</w>', continuingSubwordPrefix: '', unkId, fuseUnk: false, ignoreMerges: false },
    addedTokens,
    bos,
    eos,
    padId,
  };
}
