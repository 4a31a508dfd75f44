/**
 * Checked reads from untrusted tokenizer JSON, through the one JSON field reader (`FieldReader`, src/config/fields.ts)
 * with code TOKENIZER_INVALID: every failure names the file and the dotted/indexed field, with what was expected and
 * what was found. Here: the tokenizer's bounds and the readers of token ids, vocabularies and merge rules.
 */
import { FieldReader, isObject, showTyped, type JsonObject } from '../config/fields.js';
import type { FgClipError } from '../errors.js';

export { FieldReader, isObject, showTyped as show, type JsonObject };

/**
 * Bounds on what an untrusted tokenizer file may declare, far above any real one (CLIP: 49408 ids, 48894 merges,
 * 2.2 MB; Gemma-style vocabularies: 256k ids, ~35 MB). Token ids index tables and form pair keys
 * (left·(maxId+1) + right, exact only below 2^53), so an id of 1e8 must be refused rather than silently corrupt
 * every tokenization.
 */
export const TOKENIZER_LIMITS = {
  /** token ids are < this */
  maxTokenId: 1 << 21,
  vocabEntries: 1 << 21,
  merges: 1 << 21,
  addedTokens: 1 << 16,
  /** nested normalizer Sequences */
  nesting: 8,
} as const;

/** Largest tokenizer.json / vocab.json / merges.txt read. */
export const MAX_TOKENIZER_FILE_BYTES = 128 << 20;

/** The field reader of one tokenizer file (`…At` accessors, TOKENIZER_INVALID). */
export function tokenizerFields(source: string): FieldReader {
  return FieldReader.forFile(source, 'TOKENIZER_INVALID');
}

export function tokenizerError(source: string, field: string, what: string, hint = '', cause?: unknown): FgClipError {
  return tokenizerFields(source).failAt(field, what, hint, cause);
}

/** token id: an integer in 0 … TOKENIZER_LIMITS.maxTokenId − 1 */
export function tokenId(r: FieldReader, x: unknown, field: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
    throw r.failAt(field, `${x === undefined ? 'is missing' : 'has the wrong type'} (expected a token id, an integer >= 0, got ${showTyped(x)})`);
  }
  if (x >= TOKENIZER_LIMITS.maxTokenId) {
    throw r.failAt(field, `is out of range (expected a token id below ${TOKENIZER_LIMITS.maxTokenId}, got ${x})`, 'The file is damaged or hostile');
  }
  return x;
}

/** `{ token: id }` → Map, every id checked */
export function vocabTable(r: FieldReader, x: unknown, field: string): Map<string, number> {
  const obj = r.objectAt(x, field, 'It must map every token string to its integer id');
  const vocab = new Map<string, number>();
  const max = TOKENIZER_LIMITS.maxTokenId;
  for (const token in obj) {
    const id = obj[token];
    // hot loop (~50k entries): build the field name only on failure
    vocab.set(token, typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && id < max ? id : tokenId(r, id, `${field}[${JSON.stringify(token)}]`));
    if (vocab.size > TOKENIZER_LIMITS.vocabEntries) throw r.failAt(field, `has more than ${TOKENIZER_LIMITS.vocabEntries} entries`);
  }
  if (vocab.size === 0) throw r.failAt(field, 'is empty (expected the token → id table)');
  return vocab;
}

/** A merge rule: `"a b"` (tokenizers < 0.20) or `["a", "b"]` (tokenizers >= 0.20). */
export function mergePair(r: FieldReader, x: unknown, field: () => string): [string, string] {
  if (typeof x === 'string') {
    const parts = x.split(' ');
    if (parts.length === 2 && parts[0] !== '' && parts[1] !== '') return [parts[0], parts[1]];
  } else if (Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'string' && x[0] !== '' && x[1] !== '') {
    return [x[0], x[1]];
  }
  throw r.failAt(field(), `is not a merge rule (expected "left right" or ["left", "right"], got ${showTyped(x)})`);
}
