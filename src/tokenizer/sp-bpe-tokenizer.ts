/**
 * SentencePiece-BPE tokenizer (Gemma / SigLIP 2 / FG-CLIP 2), id for id equal to Hugging Face's Rust `tokenizers`
 * on the same tokenizer.json, called as transformers' fast tokenizer calls it:
 * `tokenizer(text, padding="max_length", max_length=N, truncation=True)`.
 *
 * text → lone surrogates to U+FFFD → added tokens cut out (raw text for `normalized: false`, then normalized
 * stretches for `normalized: true`) → normalizer (Gemma: " " → "▁") → pre-tokenizer (Gemma: a no-op Split; Llama:
 * Metaspace) → BPE with byte fallback (`<0xHH>` tokens for characters outside the vocab) → truncation of the body to
 * N − (template's special tokens) → template (FG-CLIP 2: `$A <eos>`) → padding with the pad id, mask 0.
 *
 * Work is O(n log n) in the text length (merge queue) and memory O(n): a huge text costs what it costs, never more.
 */
import { FgClipError } from '../errors.js';
import type { ModelFolder } from '../platform/ports.js';
import { AddedTokenTrie } from './added-token-trie.js';
import type { Segment } from './added-tokens.js';
import { BpeModel } from './bpe.js';
import { isObject, show, tokenizerError } from './json-check.js';
import { readOptional, parseJsonText } from './clip-tokenizer.js';
import { applyNormalizer, toWellFormed } from './normalize.js';
import { specialTokenName } from './slow-files.js';
import { parseSpBpeJson, type SpBpeSpec, type SpDecoderStep, type SpNormalizerStep, type SpPreTokenizerStep, type TemplatePiece } from './sp-bpe-spec.js';

export interface SpEncodeOptions {
  /** total length including the template's special tokens (FG-CLIP 2: 64 short/box, 196 long) */
  maxLength: number;
  /** pad to maxLength (default true) */
  padding?: boolean;
}

export interface SpEncoding {
  ids: number[];
  /** 1 for real tokens (including a literal `<pad>` in the text), 0 for padding */
  attentionMask: number[];
  /** tokens incl. the template's specials, before padding */
  length: number;
  truncated: boolean;
  droppedTokens: number;
}

/** What tokenizer_config.json says, read as transformers' AutoTokenizer reads it. */
export interface SpTokenizerSettings {
  /** transformers' `GemmaTokenizerFast.update_post_processor`: rebuild the template as `[<bos>] $A [<eos>]` */
  addBos?: boolean;
  addEos?: boolean;
  padToken?: string;
  bosToken?: string;
  eosToken?: string;
  /** false when `model_input_names` lacks "attention_mask" (SigLIP 2: the tokenizer returns no mask) */
  returnsAttentionMask?: boolean;
  paddingSide?: 'left' | 'right';
}

const WORD_CACHE_SIZE = 20_000;
const WORD_CACHE_MAX_WORD_LENGTH = 128;
/** tokenizer classes whose fast tokenizer rebuilds the post-processor from add_bos_token / add_eos_token */
const TEMPLATE_FROM_FLAGS = new Set(['GemmaTokenizer', 'GemmaTokenizerFast', 'LlamaTokenizer', 'LlamaTokenizerFast', 'Siglip2Tokenizer']);

function inputError(where: string, what: string, hint: string): FgClipError {
  return new FgClipError('INPUT_INVALID', `SentencePieceBpeTokenizer.${where}: ${what}. ${hint}`);
}

function normalize(steps: readonly SpNormalizerStep[], text: string): string {
  let s = text;
  for (const step of steps) {
    switch (step.kind) {
      case 'unicode':
      case 'lowercase':
      case 'replace':
        s = applyNormalizer([step], s);
        break;
      case 'prepend':
        if (s.length > 0) s = step.prefix + s;
        break;
      case 'strip':
        if (step.left) s = s.replace(/^\p{White_Space}+/u, '');
        if (step.right) s = s.replace(/\p{White_Space}+$/u, '');
        break;
    }
  }
  return s;
}

type Interval = [start: number, end: number, isMatch: boolean];

/** tokenizers normalizer.rs `split` with a `SplitDelimiterBehavior`; empty pieces dropped. */
function splitWith(text: string, re: RegExp, behaviour: string, invert: boolean): string[] {
  const iv: Interval[] = [];
  re.lastIndex = 0;
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex = m.index + 1;
      continue;
    }
    if (m.index > last) iv.push([last, m.index, invert]);
    iv.push([m.index, m.index + m[0].length, !invert]);
    last = m.index + m[0].length;
  }
  if (last < text.length) iv.push([last, text.length, invert]);
  let out: Interval[];
  switch (behaviour) {
    case 'removed':
      out = iv.filter((x) => !x[2]);
      break;
    case 'isolated':
      out = iv;
      break;
    case 'mergedwithprevious':
    case 'contiguous': {
      out = [];
      let prev = false;
      for (const x of iv) {
        const merge = behaviour === 'contiguous' ? x[2] === prev : x[2] && !prev;
        const tail = out[out.length - 1];
        if (merge && tail !== undefined) tail[1] = x[1];
        else out.push([x[0], x[1], false]);
        prev = x[2];
      }
      break;
    }
    default: {
      // mergedwithnext: the same fold from the right
      out = [];
      let prev = false;
      for (let i = iv.length - 1; i >= 0; i--) {
        const x = iv[i];
        const tail = out[out.length - 1];
        if (x[2] && !prev && tail !== undefined) tail[0] = x[0];
        else out.push([x[0], x[1], false]);
        prev = x[2];
      }
      out.reverse();
    }
  }
  return out.filter((x) => x[1] > x[0]).map((x) => text.slice(x[0], x[1]));
}

/** Pre-tokenized words of one normalized stretch; `atStart`: the stretch begins the text (Metaspace "first"). */
function preTokenize(steps: readonly SpPreTokenizerStep[], text: string, atStart: boolean): string[] {
  let pieces = [text];
  let first = atStart;
  for (const step of steps) {
    const next: string[] = [];
    pieces.forEach((p, k) => {
      if (step.kind === 'split') {
        next.push(...splitWith(p, step.pattern, step.behaviour, step.invert));
        return;
      }
      const r = step.replacement;
      let s = p.split(' ').join(r);
      if ((step.prepend === 'always' || (step.prepend === 'first' && first && k === 0)) && !s.startsWith(r)) s = r + s;
      if (step.split) next.push(...splitWith(s, new RegExp(r.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'gu'), 'mergedwithnext', false));
      else next.push(s);
    });
    pieces = next;
    first = first && pieces.length > 0;
  }
  return pieces;
}

function decodeChain(steps: readonly SpDecoderStep[], input: string[]): string {
  let tokens = input;
  for (const step of steps) {
    switch (step.kind) {
      case 'replace':
        tokens = tokens.map((t) => t.split(step.pattern).join(step.content));
        break;
      case 'fuse':
        tokens = [tokens.join('')];
        break;
      case 'strip':
        tokens = tokens.map((t) => {
          const cs = Array.from(t);
          let a = 0;
          while (a < step.start && a < cs.length && cs[a] === step.content) a++;
          let b = cs.length;
          while (cs.length - b < step.stop && b > a && cs[b - 1] === step.content) b--;
          return cs.slice(a, b).join('');
        });
        break;
      case 'bytefallback': {
        const out: string[] = [];
        let bytes: number[] = [];
        const flush = (): void => {
          if (bytes.length === 0) return;
          try {
            out.push(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)));
          } catch {
            for (let i = 0; i < bytes.length; i++) out.push('\uFFFD');
          }
          bytes = [];
        };
        for (const t of tokens) {
          const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
          if (m) bytes.push(parseInt(m[1], 16));
          else {
            flush();
            out.push(t);
          }
        }
        flush();
        tokens = out;
        break;
      }
    }
  }
  return tokens.join('');
}

/** tokenizer_config.json → settings, as transformers' fast tokenizer reads them (absent file: {}). */
export function settingsFromConfig(obj: unknown, source: string): SpTokenizerSettings {
  if (!isObject(obj)) throw tokenizerError(source, '', `has the wrong type (expected an object, got ${show(obj)})`);
  const flag = (key: string): boolean | undefined => {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw tokenizerError(source, key, `has the wrong type (expected true or false, got ${show(v)})`);
    return v;
  };
  const settings: SpTokenizerSettings = {};
  const cls = typeof obj.tokenizer_class === 'string' ? obj.tokenizer_class : undefined;
  if (cls !== undefined && TEMPLATE_FROM_FLAGS.has(cls)) {
    // GemmaTokenizerFast / LlamaTokenizerFast defaults: add_bos_token=True, add_eos_token=False
    settings.addBos = flag('add_bos_token') ?? true;
    settings.addEos = flag('add_eos_token') ?? false;
  }
  settings.padToken = specialTokenName(obj.pad_token);
  settings.bosToken = specialTokenName(obj.bos_token);
  settings.eosToken = specialTokenName(obj.eos_token);
  const names = obj.model_input_names;
  if (names !== undefined && names !== null) {
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))
      throw tokenizerError(source, 'model_input_names', `has the wrong type (expected an array of strings, got ${show(names)})`);
    settings.returnsAttentionMask = names.includes('attention_mask');
  }
  const side = obj.padding_side;
  if (side !== undefined && side !== null) {
    if (side !== 'left' && side !== 'right') throw tokenizerError(source, 'padding_side', `is unsupported (expected "left" or "right", got ${show(side)})`);
    settings.paddingSide = side;
  }
  return settings;
}

export class SentencePieceBpeTokenizer {
  readonly padId: number;
  readonly vocabSize: number;
  readonly source: string;
  /** whether transformers' tokenizer call returns an attention mask (model_input_names) */
  readonly returnsAttentionMask: boolean;
  readonly paddingSide: 'left' | 'right';
  /** the template actually used (after tokenizer_config's add_bos/add_eos) */
  readonly template: readonly TemplatePiece[];

  private readonly bpe: BpeModel;
  private readonly rawTrie: AddedTokenTrie;
  private readonly normalizedTrie: AddedTokenTrie;
  private readonly idToToken: string[] = [];
  private readonly specialIds = new Set<number>();
  private readonly wordCache = new Map<string, readonly number[]>();
  private readonly specialCount: number;

  private constructor(
    private readonly spec: SpBpeSpec,
    settings: SpTokenizerSettings,
  ) {
    this.source = spec.source;
    this.bpe = new BpeModel(spec.vocab, spec.merges, spec.bpe);
    for (const [token, id] of spec.vocab) this.idToToken[id] = token;
    for (const t of spec.addedTokens) {
      this.idToToken[t.id] = t.content;
      if (t.special) this.specialIds.add(t.id);
    }
    this.vocabSize = this.idToToken.length;
    const idOf = (name: string, role: string): number => {
      const id = spec.addedTokens.find((t) => t.content === name)?.id ?? spec.vocab.get(name);
      if (id === undefined) throw tokenizerError(spec.source, role, `names ${JSON.stringify(name)}, which is neither an added token nor in model.vocab`);
      return id;
    };
    if (settings.addBos !== undefined || settings.addEos !== undefined) {
      const t: TemplatePiece[] = [];
      if (settings.addBos) t.push({ kind: 'special', token: settings.bosToken ?? '<bos>', ids: [idOf(settings.bosToken ?? '<bos>', 'bos_token')] });
      t.push({ kind: 'sequence' });
      if (settings.addEos) t.push({ kind: 'special', token: settings.eosToken ?? '<eos>', ids: [idOf(settings.eosToken ?? '<eos>', 'eos_token')] });
      this.template = t;
    } else {
      this.template = spec.template;
    }
    for (const piece of this.template) {
      if (piece.kind === 'special')
        for (const id of piece.ids)
          if (this.idToToken[id] === undefined)
            throw tokenizerError(
              spec.source,
              'post_processor',
              `special token ${JSON.stringify(piece.token)} has id ${id}, which is not a token of this tokenizer`,
            );
    }
    this.specialCount = this.template.reduce((n, p) => n + (p.kind === 'special' ? p.ids.length : 0), 0);
    this.padId = settings.padToken !== undefined ? idOf(settings.padToken, 'pad_token') : (spec.padId ?? 0);
    if (this.idToToken[this.padId] === undefined) throw tokenizerError(spec.source, 'pad', `id ${this.padId} is not a token of this tokenizer`);
    this.returnsAttentionMask = settings.returnsAttentionMask ?? true;
    this.paddingSide = settings.paddingSide ?? 'right';
    const raw = spec.addedTokens.filter((t) => !t.normalized);
    const norm = spec.addedTokens.filter((t) => t.normalized);
    this.rawTrie = new AddedTokenTrie(
      raw,
      raw.map((t) => t.content),
    );
    this.normalizedTrie = new AddedTokenTrie(
      norm,
      norm.map((t) => normalize(spec.normalizer, t.content)),
    );
  }

  static fromJson(json: unknown, source = 'tokenizer.json', settings: SpTokenizerSettings = {}): SentencePieceBpeTokenizer {
    return new SentencePieceBpeTokenizer(parseSpBpeJson(json, source), settings);
  }

  /** tokenizer.json + tokenizer_config.json of a checkpoint folder, read as AutoTokenizer would. */
  static async fromFolder(folder: ModelFolder, override: SpTokenizerSettings = {}): Promise<SentencePieceBpeTokenizer> {
    const cfgPath = folder.where('tokenizer_config.json');
    const cfgText = await readOptional(folder, 'tokenizer_config.json');
    const settings = cfgText === undefined ? {} : settingsFromConfig(parseJsonText(cfgText, cfgPath), cfgPath);
    const path = folder.where('tokenizer.json');
    const text = await readOptional(folder, 'tokenizer.json');
    if (text === undefined) throw tokenizerError(folder.location, '', 'has no tokenizer.json', 'FG-CLIP 2 checkpoints ship a Hugging Face tokenizer.json');
    return new SentencePieceBpeTokenizer(parseSpBpeJson(parseJsonText(text, path), path), { ...settings, ...override });
  }

  encode(text: string, opts: SpEncodeOptions): SpEncoding {
    if (typeof text !== 'string') throw inputError('encode', `text must be a string (got ${show(text)})`, 'Pass caption text');
    const { maxLength, padding } = this.checkOptions(opts);
    return this.encodeChecked(text, maxLength, padding);
  }

  encodeBatch(texts: readonly string[], opts: SpEncodeOptions): SpEncoding[] {
    if (!Array.isArray(texts)) throw inputError('encodeBatch', `texts must be an array of strings (got ${show(texts)})`, 'Wrap a single caption in [ ]');
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw inputError('encodeBatch', `texts[${i}] must be a string (got ${show(t)})`, 'Pass caption text');
    });
    const { maxLength, padding } = this.checkOptions(opts);
    return texts.map((t) => this.encodeChecked(t, maxLength, padding));
  }

  /** Ids without the template's special tokens, truncation or padding. */
  tokenIds(text: string): number[] {
    if (typeof text !== 'string') throw inputError('tokenIds', `text must be a string (got ${show(text)})`, 'Pass caption text');
    const raw: Segment[] = [];
    const rawStarts: number[] = [];
    this.rawTrie.split(toWellFormed(text), raw, rawStarts);
    const ids: number[] = [];
    let k = 0;
    for (const seg of raw) {
      if ('id' in seg) {
        ids.push(seg.id);
        continue;
      }
      const atStart = rawStarts[k++] === 0;
      const inner: Segment[] = [];
      const innerStarts: number[] = [];
      this.normalizedTrie.split(normalize(this.spec.normalizer, seg.text), inner, innerStarts);
      let j = 0;
      for (const s of inner) {
        if ('id' in s) {
          ids.push(s.id);
          continue;
        }
        const start = innerStarts[j++] === 0 && atStart;
        for (const word of preTokenize(this.spec.preTokenizer, s.text, start)) {
          const w = this.wordIds(word);
          for (let i = 0; i < w.length; i++) ids.push(w[i]);
        }
      }
    }
    return ids;
  }

  /** The token strings of ids (added tokens by their content). */
  tokens(ids: readonly number[]): string[] {
    return ids.map((id, i) => {
      const t = Number.isInteger(id) ? this.idToToken[id] : undefined;
      if (t === undefined)
        throw inputError(
          'tokens',
          `ids[${i}] is not a token id (expected an integer in 0..${this.vocabSize - 1}, got ${show(id)})`,
          'Pass ids produced by this tokenizer',
        );
      return t;
    });
  }

  /** tokenizers' `decode` through the file's decoder (Gemma: "▁" → " ", byte fallback, fuse). */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (!Array.isArray(ids)) throw inputError('decode', `ids must be an array of token ids (got ${show(ids)})`, 'Pass SpEncoding.ids');
    const tokens = this.tokens(ids).filter((_, i) => !(opts.skipSpecialTokens && this.specialIds.has(ids[i])));
    return decodeChain(this.spec.decoder, tokens);
  }

  private checkOptions(opts: unknown): { maxLength: number; padding: boolean } {
    if (!isObject(opts)) throw inputError('encode', `options must be an object (got ${show(opts)})`, 'Pass { maxLength: 64 } or { maxLength: 196 }');
    const { maxLength, padding } = opts;
    if (typeof maxLength !== 'number' || !Number.isSafeInteger(maxLength) || maxLength < Math.max(1, this.specialCount) || maxLength > 1 << 20) {
      throw inputError(
        'encode',
        `maxLength must be an integer in ${Math.max(1, this.specialCount)}..${1 << 20} (got ${show(maxLength)})`,
        'It counts the special tokens; FG-CLIP 2 uses 64 (short, box) or 196 (long)',
      );
    }
    if (padding !== undefined && typeof padding !== 'boolean')
      throw inputError('encode', `padding must be true or false (got ${show(padding)})`, 'Omit it to pad');
    return { maxLength, padding: padding ?? true };
  }

  private encodeChecked(text: string, maxLength: number, padding: boolean): SpEncoding {
    const body = this.tokenIds(text);
    const kept = Math.min(body.length, maxLength - this.specialCount);
    const seq: number[] = [];
    for (const piece of this.template) {
      if (piece.kind === 'special') seq.push(...piece.ids);
      else for (let i = 0; i < kept; i++) seq.push(body[i]);
    }
    const length = seq.length;
    const pad = padding ? Math.max(0, maxLength - length) : 0;
    const padIds = new Array<number>(pad).fill(this.padId);
    const ones = new Array<number>(length).fill(1);
    const zeros = new Array<number>(pad).fill(0);
    const left = this.paddingSide === 'left';
    const droppedTokens = body.length - kept;
    return {
      ids: left ? [...padIds, ...seq] : [...seq, ...padIds],
      attentionMask: left ? [...zeros, ...ones] : [...ones, ...zeros],
      length,
      truncated: droppedTokens > 0,
      droppedTokens,
    };
  }

  private wordIds(word: string): readonly number[] {
    const hit = this.wordCache.get(word);
    if (hit !== undefined) return hit;
    const ids = this.bpe.tokenize(word);
    if (word.length > WORD_CACHE_MAX_WORD_LENGTH) return ids;
    if (this.wordCache.size >= WORD_CACHE_SIZE) {
      const oldest = this.wordCache.keys().next().value;
      if (oldest !== undefined) this.wordCache.delete(oldest);
    }
    this.wordCache.set(word, ids);
    return ids;
  }
}
