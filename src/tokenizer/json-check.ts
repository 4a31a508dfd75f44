/**
 * Checked reads from untrusted tokenizer JSON. Every failure is `FgClipError('TOKENIZER_INVALID')` naming the
 * file and the dotted/indexed field, with what was expected and what was found.
 */
import { FgClipError } from '../errors.js';

export type JsonObject = Record<string, unknown>;

export function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Short rendering of a JSON value for messages. */
export function show(x: unknown): string {
  if (x === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(x) ?? String(x);
  } catch {
    s = String(x);
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

  array(x: unknown, field: string): unknown[] {
    if (!Array.isArray(x)) throw this.fail(field, `${x === undefined ? 'is missing' : 'has the wrong type'} (expected an array, got ${show(x)})`);
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

  /** non-negative safe integer */
  id(x: unknown, field: string): number {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
      throw this.fail(field, `${x === undefined ? 'is missing' : 'has the wrong type'} (expected a token id, an integer >= 0, got ${show(x)})`);
    }
    return x;
  }

  /** `{ token: id }` → Map, every id checked */
  vocab(x: unknown, field: string): Map<string, number> {
    const obj = this.object(x, field, 'It must map every token string to its integer id');
    const vocab = new Map<string, number>();
    for (const token in obj) {
      const id = obj[token];
      // hot loop (~50k entries): build the field name only on failure
      vocab.set(token, typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : this.id(id, `${field}[${JSON.stringify(token)}]`));
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
