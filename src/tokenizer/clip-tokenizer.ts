/**
 * CLIP tokenizer, id for id equal to Hugging Face's fast CLIP tokenizer (Rust `tokenizers` on the checkpoint's
 * tokenizer.json) as called by FG-CLIP's model card and eval scripts:
 * `tokenizer(texts, max_length=N, padding="max_length", truncation=True)` (fgclip-spec.md §3).
 *
 * text → lone surrogates to U+FFFD → added tokens cut out (normalized ones after normalizing: NFC, `\s+` → " ",
 * lowercase) → Split (CLIP regex) → ByteLevel → BPE with "</w>" → [bos] + ids[:N−2] + [eos] → right-pad with pad id.
 */
import { parseJson } from '../config/fields.js';
import { FgClipError } from '../errors.js';
import type { ModelFolder, ReadLimits } from '../platform/ports.js';
import { splitOnAddedTokens, type AddedTokenMatcher, type Segment } from './added-tokens.js';
import { BpeModel } from './bpe.js';
import { byteLevelDecode } from './byte-level.js';
import { isObject, MAX_TOKENIZER_FILE_BYTES, show, tokenizerError } from './json-check.js';
import { applyNormalizer, toWellFormed } from './normalize.js';
import { byteLevelWords, preTokenize } from './pretokenize.js';
import { CLIP_SPECIAL_TOKENS, specFromSlowFiles, specialTokenName, type SpecialTokenNames } from './slow-files.js';
import { parseTokenizerJson, type TokenizerSpec } from './tokenizer-spec.js';

export interface EncodeOptions {
  /** total length including bos/eos; CLIP: 77 (short captions) or 248 (FG-CLIP long captions) */
  maxLength: number;
  /** pad to maxLength (default true) */
  padding?: boolean;
}

export interface Encoding {
  ids: number[];
  /** tokens incl. bos/eos before padding */
  length: number;
  truncated: boolean;
  /** tokens that were dropped by truncation */
  droppedTokens: number;
}

/** Distinct words kept in the word → ids cache; oldest entries are evicted first. */
const WORD_CACHE_SIZE = 50_000;
/** Longer words are not cached (bounds the cache's memory; tokenizers' BPE cache has the same kind of limit). */
const WORD_CACHE_MAX_WORD_LENGTH = 256;

/** Python `str.strip()` whitespace (the CLIPTokenizerFast decode wrapper strips with it). */
const PY_STRIP =
  /^[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

function inputError(where: string, what: string, hint: string): FgClipError {
  return new FgClipError('INPUT_INVALID', `ClipTokenizer.${where}: ${what}. ${hint}`);
}

function checkText(text: unknown, where: string, name: string): string {
  if (typeof text !== 'string') throw inputError(where, `${name} must be a string (got ${show(text)})`, 'Pass caption text');
  return text;
}

function checkOptions(opts: unknown, where: string): { maxLength: number; padding: boolean } {
  if (!isObject(opts)) throw inputError(where, `options must be an object (got ${show(opts)})`, 'Pass { maxLength: 77 } or { maxLength: 248 }');
  const { maxLength, padding } = opts;
  if (typeof maxLength !== 'number' || !Number.isSafeInteger(maxLength) || maxLength < 2) {
    throw inputError(
      where,
      `maxLength must be an integer >= 2 (got ${show(maxLength)})`,
      'It counts the start and end tokens; CLIP uses 77, FG-CLIP long captions 248',
    );
  }
  if (padding !== undefined && typeof padding !== 'boolean') throw inputError(where, `padding must be true or false (got ${show(padding)})`, 'Omit it to pad');
  return { maxLength, padding: padding ?? true };
}

/** Absent → undefined; a directory, FIFO, device, dangling symlink or oversized file → TOKENIZER_INVALID. */
export async function readOptional(folder: ModelFolder, name: string): Promise<string | undefined> {
  return folder.readText(name, tokenizerFile(name));
}

/** How tokenizer files are read: TOKENIZER_INVALID, bounded by MAX_TOKENIZER_FILE_BYTES. */
export function tokenizerFile(name: string): ReadLimits {
  return { what: name, code: 'TOKENIZER_INVALID', maxBytes: MAX_TOKENIZER_FILE_BYTES, hint: 'Point to a Hugging Face CLIP checkpoint folder' };
}

/** JSON.parse with TOKENIZER_INVALID naming the file. */
export function parseJsonText(text: string, source: string): unknown {
  return parseJson(text, source, 'TOKENIZER_INVALID', 'Re-download the tokenizer files');
}

/** Special-token names from tokenizer_config.json, then special_tokens_map.json; only those the files name. */
async function readSpecialTokenNames(folder: ModelFolder): Promise<Partial<SpecialTokenNames>> {
  const names: Partial<Record<keyof SpecialTokenNames, string>> = {};
  for (const file of ['tokenizer_config.json', 'special_tokens_map.json']) {
    const path = folder.where(file);
    const text = await readOptional(folder, file);
    if (text === undefined) continue;
    const obj = parseJsonText(text, path);
    if (!isObject(obj)) throw tokenizerError(path, '', `has the wrong type (expected an object, got ${show(obj)})`);
    for (const role of ['bos', 'eos', 'unk', 'pad'] as const) {
      const name = specialTokenName(obj[`${role}_token`]);
      if (name !== undefined && names[role] === undefined) names[role] = name;
    }
  }
  return names;
}

export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** largest id + 1 over the vocab and the added tokens */
  readonly vocabSize: number;
  /** where the tokenizer was read from */
  readonly source: string;

  private readonly bpe: BpeModel;
  private readonly rawMatcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher;
  private readonly idToToken: string[] = [];
  private readonly specialIds = new Set<number>();
  private readonly wordCache = new Map<string, readonly number[]>();

  private constructor(private readonly spec: TokenizerSpec) {
    this.source = spec.source;
    this.bosId = spec.bos.id;
    this.eosId = spec.eos.id;
    this.padId = spec.padId;
    this.bpe = new BpeModel(spec.vocab, spec.merges, spec.bpe);
    for (const [token, id] of spec.vocab) this.idToToken[id] = token;
    // added tokens win over the model vocab for id → token (added_vocabulary.rs `simple_id_to_token`)
    for (const t of spec.addedTokens) {
      this.idToToken[t.id] = t.content;
      if (t.special) this.specialIds.add(t.id);
    }
    this.vocabSize = this.idToToken.length;
    const raw = spec.addedTokens.filter((t) => !t.normalized);
    const norm = spec.addedTokens.filter((t) => t.normalized);
    this.rawMatcher = { tokens: raw, patterns: raw.map((t) => t.content) };
    this.normalizedMatcher = { tokens: norm, patterns: norm.map((t) => applyNormalizer(spec.normalizer, t.content)) };
    for (const [role, id] of [
      ['bos', this.bosId],
      ['eos', this.eosId],
      ['pad', this.padId],
    ] as const) {
      if (this.idToToken[id] === undefined) {
        throw tokenizerError(spec.source, role, `id ${id} is not a token of this tokenizer (expected an id in the vocab or added_tokens)`);
      }
    }
  }

  static fromSpec(spec: TokenizerSpec): ClipTokenizer {
    return new ClipTokenizer(spec);
  }

  /** Validates an already-parsed tokenizer.json; errors name `source` and the offending field. */
  static fromJson(json: unknown, source = 'tokenizer.json'): ClipTokenizer {
    return new ClipTokenizer(parseTokenizerJson(json, source));
  }

  /**
   * tokenizer.json when the folder has one, else vocab.json + merges.txt (what transformers converts the slow
   * files into). The pad token (and for the slow files all special tokens) come from tokenizer_config.json /
   * special_tokens_map.json when present.
   */
  static async fromFolder(folder: ModelFolder): Promise<ClipTokenizer> {
    const names = await readSpecialTokenNames(folder);
    const tokenizerJson = folder.where('tokenizer.json');
    const fast = await readOptional(folder, 'tokenizer.json');
    if (fast !== undefined) return new ClipTokenizer(parseTokenizerJson(parseJsonText(fast, tokenizerJson), tokenizerJson, names.pad));
    const vocabPath = folder.where('vocab.json');
    const mergesPath = folder.where('merges.txt');
    const [vocab, merges] = await Promise.all([readOptional(folder, 'vocab.json'), readOptional(folder, 'merges.txt')]);
    if (vocab === undefined || merges === undefined) {
      throw tokenizerError(
        folder.location,
        '',
        `has no tokenizer files (expected tokenizer.json, or vocab.json + merges.txt; ${vocab === undefined ? 'vocab.json' : 'merges.txt'} is missing)`,
        'Point to a Hugging Face CLIP checkpoint folder',
      );
    }
    const spec = specFromSlowFiles(parseJsonText(vocab, vocabPath), merges, { vocab: vocabPath, merges: mergesPath }, { ...CLIP_SPECIAL_TOKENS, ...names });
    return new ClipTokenizer(spec);
  }

  encode(text: string, opts: EncodeOptions): Encoding {
    const { maxLength, padding } = checkOptions(opts, 'encode');
    return this.encodeChecked(checkText(text, 'encode', 'text'), maxLength, padding);
  }

  encodeBatch(texts: readonly string[], opts: EncodeOptions): Encoding[] {
    if (!Array.isArray(texts)) throw inputError('encodeBatch', `texts must be an array of strings (got ${show(texts)})`, 'Wrap a single caption in [ ]');
    const { maxLength, padding } = checkOptions(opts, 'encodeBatch');
    texts.forEach((t, i) => checkText(t, 'encodeBatch', `texts[${i}]`));
    return texts.map((t) => this.encodeChecked(t, maxLength, padding));
  }

  /** number of tokens incl. bos/eos without truncation, to choose short (≤77) vs long mode */
  countTokens(text: string): number {
    return this.tokenIds(checkText(text, 'countTokens', 'text')).length + 2;
  }

  /**
   * CLIPTokenizerFast.decode with `clean_up_tokenization_spaces=False`: ByteLevel decoding, then every "</w>"
   * becomes a space and the result is stripped (transformers `_wrap_decode_method_backend_tokenizer`).
   */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (!Array.isArray(ids)) throw inputError('decode', `ids must be an array of token ids (got ${show(ids)})`, 'Pass Encoding.ids');
    const skip = opts.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    ids.forEach((id, i) => {
      const token = Number.isInteger(id) ? this.idToToken[id] : undefined;
      if (token === undefined) {
        throw inputError(
          'decode',
          `ids[${i}] is not a token id (expected an integer in 0..${this.vocabSize - 1}, got ${show(id)})`,
          'Pass ids produced by this tokenizer',
        );
      }
      if (!(skip && this.specialIds.has(id))) tokens.push(token);
    });
    let text = byteLevelDecode(tokens);
    const suffix = this.spec.bpe.endOfWordSuffix;
    if (suffix) text = text.split(suffix).join(' ');
    return text.replace(PY_STRIP, '');
  }

  private encodeChecked(text: string, maxLength: number, padding: boolean): Encoding {
    const body = this.tokenIds(text);
    const kept = Math.min(body.length, maxLength - 2);
    const ids = new Array<number>(padding ? maxLength : kept + 2);
    ids[0] = this.bosId;
    for (let i = 0; i < kept; i++) ids[i + 1] = body[i];
    ids[kept + 1] = this.eosId;
    for (let i = kept + 2; i < ids.length; i++) ids[i] = this.padId;
    const droppedTokens = body.length - kept;
    return { ids, length: kept + 2, truncated: droppedTokens > 0, droppedTokens };
  }

  /** Ids of `text` without bos/eos, truncation or padding. */
  private tokenIds(text: string): number[] {
    const segments: Segment[] = [];
    const raw: Segment[] = [];
    splitOnAddedTokens(toWellFormed(text), this.rawMatcher, raw);
    for (const seg of raw) {
      if ('id' in seg) segments.push(seg);
      else splitOnAddedTokens(applyNormalizer(this.spec.normalizer, seg.text), this.normalizedMatcher, segments);
    }
    const ids: number[] = [];
    for (const seg of segments) {
      if ('id' in seg) {
        ids.push(seg.id);
        continue;
      }
      for (const word of preTokenize(this.spec.preTokenizer, seg.text)) {
        const wordIds = this.wordIds(word);
        for (let i = 0; i < wordIds.length; i++) ids.push(wordIds[i]);
      }
    }
    return ids;
  }

  private wordIds(word: string): readonly number[] {
    const hit = this.wordCache.get(word);
    if (hit !== undefined) return hit;
    const ids: number[] = [];
    for (const piece of byteLevelWords(this.spec.preTokenizer, word)) {
      for (const id of this.bpe.tokenize(piece)) ids.push(id);
    }
    if (word.length > WORD_CACHE_MAX_WORD_LENGTH) return ids;
    if (this.wordCache.size >= WORD_CACHE_SIZE) {
      const oldest = this.wordCache.keys().next().value;
      if (oldest !== undefined) this.wordCache.delete(oldest);
    }
    this.wordCache.set(word, ids);
    return ids;
  }
}
