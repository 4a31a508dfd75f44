/**
 * The one typed reader of untrusted JSON (config.json, preprocessor_config.json, tokenizer files): `FieldReader`
 * names the file and the field in every error, so a bad file says exactly what to fix. Key accessors (`int`, `bool`,
 * `object`, …) read fields of one object by key; the `…At` accessors check a value found anywhere in the file under its
 * full path (`model.merges[3]`), as the tokenizer parsers walk their files. Errors carry the reader's code
 * (CONFIG_INVALID by default; TOKENIZER_INVALID for tokenizer files).
 */
import { FgClipError, type FgClipErrorCode } from '../errors.js';

export type JsonObject = Record<string, unknown>;

export function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** JSON-ish rendering of a value for error messages, cut short so a huge array does not flood the message. */
export function show(x: unknown): string {
  let s: string;
  try {
    s = x === undefined ? 'nothing' : (JSON.stringify(x) ?? String(x));
  } catch {
    s = shallow(x); // too deep to stringify (String() of nested arrays recurses as well)
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * The one JSON parse of an untrusted text: invalid JSON → FgClipError(`code`) naming `source` (a file, a line),
 * "<source>: not valid JSON (<parser message>). <hint>". Files are read with `readJsonFile`
 * (src/platform/node/json-file.ts) or a platform's file reading port, then parsed here.
 */
export function parseJson(text: string, source: string, code: FgClipErrorCode, hint = ''): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new FgClipError(code, `${source}: not valid JSON (${(e as Error).message})${hint ? `. ${hint}` : ''}`, { cause: e });
  }
}

/** A value rendered with its kind (`array [...]`, `object {...}`, or the primitive), cut at 60 characters. */
export function showTyped(x: unknown): string {
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

/** Reads fields of one JSON object; `prefix` is the dotted path of that object inside the file ('' at top level). */
export class FieldReader {
  constructor(
    readonly obj: JsonObject,
    readonly source: string,
    readonly prefix = '',
    readonly code: FgClipErrorCode = 'CONFIG_INVALID',
  ) {}

  /** A reader for values anywhere in the file `source` (the `…At` accessors), failing with `code`. */
  static forFile(source: string, code: FgClipErrorCode): FieldReader {
    return new FieldReader({}, source, '', code);
  }

  path(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  fail(key: string, what: string, hint = ''): FgClipError {
    return new FgClipError(this.code, `${this.source}: ${this.path(key)} ${what}${hint ? `. ${hint}` : ''}`);
  }

  /**
   * Positive (or, with min 0, non-negative) safe integer, at most `max` (an untrusted file must not make the
   * library allocate or loop without bound); `fallback` undefined means the field is required.
   */
  int(key: string, fallback?: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.obj[key] ?? fallback;
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    if (v === undefined) throw this.fail(key, `is required (expected an integer ${range}, got nothing)`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw this.fail(
        key,
        `must be an integer ${range} (got ${show(v)})`,
        v !== undefined && typeof v === 'number' && v > max ? 'The limit is far above any released checkpoint; the file is damaged or hostile' : '',
      );
    }
    return v;
  }

  /** Finite number > 0. */
  positive(key: string, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (v === undefined) throw this.fail(key, 'is required (expected a number > 0, got nothing)');
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw this.fail(key, `must be a finite number > 0 (got ${show(v)})`);
    }
    return v;
  }

  /** Any finite number. */
  finite(key: string, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw this.fail(key, `must be a finite number (got ${show(v)})`);
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'boolean') throw this.fail(key, `must be true or false (got ${show(v)})`);
    return v;
  }

  /** One of the listed string values. */
  oneOf<T extends string>(key: string, options: readonly T[], fallback?: T): T {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
      throw this.fail(key, `must be one of ${options.map((o) => JSON.stringify(o)).join(', ')} (got ${show(v)})`);
    }
    return v as T;
  }

  /** A nested object; `undefined` when absent and not required. */
  object(key: string, required: true): FieldReader;
  object(key: string, required: false): FieldReader | undefined;
  object(key: string, required: boolean): FieldReader | undefined {
    const v = this.obj[key];
    if (v === undefined || v === null) {
      if (required) throw this.fail(key, 'is required (expected an object, got nothing)');
      return undefined;
    }
    if (!isObject(v)) throw this.fail(key, `must be an object (got ${show(v)})`);
    return new FieldReader(v, this.source, this.path(key), this.code);
  }

  /** A list of exactly three finite numbers (per-channel mean/std). */
  triple(key: string, fallback: readonly [number, number, number]): readonly [number, number, number] {
    const v = this.obj[key] ?? fallback;
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw this.fail(key, `must be a list of 3 finite numbers, one per RGB channel (got ${show(v)})`);
    }
    return [v[0] as number, v[1] as number, v[2] as number];
  }
  // ---- values anywhere in the file, under their full path ('model.merges[3]'); "<source>: <field>: <what>" ----

  failAt(field: string, what: string, hint = '', cause?: unknown): FgClipError {
    const where = field ? `${this.source}: ${field}` : this.source;
    return new FgClipError(this.code, `${where}: ${what}${hint ? `. ${hint}` : ''}`, cause === undefined ? undefined : { cause });
  }

  objectAt(x: unknown, field: string, hint = ''): JsonObject {
    if (!isObject(x)) throw this.failAt(field, `${x === undefined ? 'is missing' : 'has the wrong type'} (expected an object, got ${showTyped(x)})`, hint);
    return x;
  }

  arrayAt(x: unknown, field: string, maxLength = Number.MAX_SAFE_INTEGER): unknown[] {
    if (!Array.isArray(x)) throw this.failAt(field, `${x === undefined ? 'is missing' : 'has the wrong type'} (expected an array, got ${showTyped(x)})`);
    if (x.length > maxLength) throw this.failAt(field, `has ${x.length} entries, more than the ${maxLength} allowed`);
    return x;
  }

  stringAt(x: unknown, field: string, nonEmpty = false): string {
    if (typeof x !== 'string' || (nonEmpty && x.length === 0)) {
      throw this.failAt(
        field,
        `${x === undefined ? 'is missing' : 'has the wrong type'} (expected a ${nonEmpty ? 'non-empty ' : ''}string, got ${showTyped(x)})`,
      );
    }
    return x;
  }

  /** string, or `fallback` when null/absent */
  optStringAt(x: unknown, field: string, fallback: string | null): string | null {
    return x === undefined || x === null ? fallback : this.stringAt(x, field);
  }

  boolAt(x: unknown, field: string, fallback?: boolean): boolean {
    if ((x === undefined || x === null) && fallback !== undefined) return fallback;
    if (typeof x !== 'boolean') throw this.failAt(field, `has the wrong type (expected true or false, got ${showTyped(x)})`);
    return x;
  }
}

/** A one-level rendering that cannot recurse: `[array of N]`, `{object}`, or the primitive. */
function shallow(x: unknown): string {
  if (Array.isArray(x)) return `[array of ${x.length}]`;
  if (typeof x === 'object' && x !== null) return '{object}';
  return typeof x === 'symbol' ? x.toString() : String(x);
}
