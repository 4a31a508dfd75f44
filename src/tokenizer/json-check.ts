/**
 * Checked reads from untrusted tokenizer JSON. Every failure is `FgClipError('TOKENIZER_INVALID')` naming the
 * file and the dotted/indexed field, with what was expected and what was found.
 */
import { isObject, type JsonObject } from '../config/fields.js';
import { FgClipError } from '../errors.js';

export { isObject, type JsonObject };

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

/** Short rendering of a JSON value for messages. */
export function show(x: unknown): string {
  if (x === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(x) ?? String(x);
  } catch {
    s = shallow(x); // too deep to stringify (String() of nested arrays recurses as well)
  }
  const kind = x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x;
  if (s.length > 60) s = `${s.slice(0, 57)}...`;
  return kind === 'string' || kind === 'number' || kind === 'boolean' || kind === 'null' ? s : `${kind} ${s}`;
}

export function tokenizerError(source: string, field: string, what: string, hint = '', cause?: unknown): FgClipError {
  const where = field ? `${source}: ${field}` : source;
  return new FgClipError('TOKENIZER_INVALID', `${where}: ${what}${hint ? `. ${hint}` : ''}`, cause === undefined ? undefined : { cause });
}

/** Typed accessors for one file; `field` arguments are full paths such as `model.merges[3]`. */
export class JsonChecker {
  constructor(readonly source: string) {}

  fail(field: string, what: string, hint = ''): FgClipError {
    return tokenizerError(this.source, field, what, hint);
  }

  object(x: unknown, field: string, hint = ''): JsonObject {
    if (!isObject(x)) throw this.fail(field, `${x === undefined ? 'is missing' : 'has the wrong type'} (expected an object, got ${show(x)})`, hint);
    return x;
  }

  array(x: unknown, field: string, maxLength = Number.MAX_SAFE_INTEGER): unknown[] {
    if (!Array.isArray(x)) throw this.fail(field, `${x === undefined ? 'is missing' : 'has the wrong type'} (expected an array, got ${show(x)})`);
    if (x.length > maxLength) throw this.fail(field, `has ${x.length} entries, more than the ${maxLength} allowed`);
    return x;
  }

  string(x: unknown, field: string, nonEmpty = false): string {
    if (typeof x !== 'string' || (nonEmpty && x.length === 0)) {
      throw this.fail(field, `${x === undefined ? 'is missing' : 'has the wrong type'} (expected a ${nonEmpty ? 'non-empty ' : ''}string, got ${show(x)})`);
    }
    return x;
  }

  /** string, or `fallback` when null/absent */
  optString(x: unknown, field: string, fallback: string | null): string | null {
    return x === undefined || x === null ? fallback : this.string(x, field);
  }

  bool(x: unknown, field: string, fallback?: boolean): boolean {
    if ((x === undefined || x === null) && fallback !== undefined) return fallback;
    if (typeof x !== 'boolean') throw this.fail(field, `has the wrong type (expected true or false, got ${show(x)})`);
    return x;
  }

  /** token id: an integer in 0 … TOKENIZER_LIMITS.maxTokenId − 1 */
  id(x: unknown, field: string): number {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
      throw this.fail(field, `${x === undefined ? 'is missing' : 'has the wrong type'} (expected a token id, an integer >= 0, got ${show(x)})`);
    }
    if (x >= TOKENIZER_LIMITS.maxTokenId) {
      throw this.fail(field, `is out of range (expected a token id below ${TOKENIZER_LIMITS.maxTokenId}, got ${x})`, 'The file is damaged or hostile');
    }
    return x;
  }

  /** `{ token: id }` → Map, every id checked */
  vocab(x: unknown, field: string): Map<string, number> {
    const obj = this.object(x, field, 'It must map every token string to its integer id');
    const vocab = new Map<string, number>();
    const max = TOKENIZER_LIMITS.maxTokenId;
    for (const token in obj) {
      const id = obj[token];
      // hot loop (~50k entries): build the field name only on failure
      vocab.set(token, typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && id < max ? id : this.id(id, `${field}[${JSON.stringify(token)}]`));
      if (vocab.size > TOKENIZER_LIMITS.vocabEntries) throw this.fail(field, `has more than ${TOKENIZER_LIMITS.vocabEntries} entries`);
    }
    if (vocab.size === 0) throw this.fail(field, 'is empty (expected the token → id table)');
    return vocab;
  }

  /** A merge rule: `"a b"` (tokenizers < 0.20) or `["a", "b"]` (tokenizers >= 0.20). */
  mergePair(x: unknown, field: () => string): [string, string] {
    if (typeof x === 'string') {
      const parts = x.split(' ');
      if (parts.length === 2 && parts[0] !== '' && parts[1] !== '') return [parts[0], parts[1]];
    } else if (Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'string' && x[0] !== '' && x[1] !== '') {
      return [x[0], x[1]];
    }
    throw this.fail(field(), `is not a merge rule (expected "left right" or ["left", "right"], got ${show(x)})`);
  }
}

/** A one-level rendering that cannot recurse: `[array of N]`, `{object}`, or the primitive. */
function shallow(x: unknown): string {
  if (Array.isArray(x)) return `[array of ${x.length}]`;
  if (typeof x === 'object' && x !== null) return '{object}';
  return typeof x === 'symbol' ? x.toString() : String(x);
}
