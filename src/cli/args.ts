/**
 * Shared CLI plumbing: strict option parsing (node:util parseArgs; unknown options are errors), the options every
 * model command takes, output helpers, and the error → exit code mapping. Commands stay thin: they parse, call
 * the library, and format.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FgClipError } from '../errors.js';
import type { LoadOptions } from '../model/handle.js';
import { FgClip } from '../model/handle.js';
import { progressBar } from '../hub/index.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

export const MODEL_OPTIONS: Options = {
  model: { type: 'string', short: 'm' },
  revision: { type: 'string' },
  threads: { type: 'string' },
  dtype: { type: 'string' },
  'image-size': { type: 'string' },
  preprocess: { type: 'string' },
  'max-pixels': { type: 'string' },
  'auto-orient': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parse(command: string, argv: readonly string[], options: Options) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${command}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

type Values = ReturnType<typeof parse>['values'];

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function strs(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
}

export function flag(values: Values, name: string): boolean {
  return values[name] === true;
}

export function int(values: Values, name: string, min = 1): number | undefined {
  const s = str(values, name);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: expected an integer ≥ ${min} (got ${JSON.stringify(s)})`);
  return n;
}

export function requireModel(values: Values, command: string): string {
  const m = str(values, 'model') ?? undefined;
  if (!m) throw new UsageError(`${command}: --model DIR|REPO is required (a local folder in the Hugging Face layout, or a Hub id such as qihoo360/fg-clip-base)`);
  return m;
}

export function loadOptions(values: Values, io: Io): LoadOptions {
  const pre = str(values, 'preprocess');
  if (pre !== undefined && pre !== 'squash' && pre !== 'crop') throw new UsageError(`--preprocess: expected squash or crop (got ${JSON.stringify(pre)})`);
  const quiet = flag(values, 'quiet');
  const dtype = str(values, 'dtype');
  if (dtype !== undefined && dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'int8') throw new UsageError(`--dtype: expected fp32, fp16 or int8 (got ${JSON.stringify(dtype)})`);
  return {
    dtype: dtype as 'fp32' | 'fp16' | 'int8' | undefined,
    revision: str(values, 'revision'),
    threads: int(values, 'threads'),
    imageSize: int(values, 'image-size'),
    preprocess: pre as 'squash' | 'crop' | undefined,
    maxPixels: int(values, 'max-pixels'),
    autoOrient: flag(values, 'auto-orient'),
    hub: { onProgress: quiet ? undefined : progressBar(io.stderr as NodeJS.WriteStream), env: io.env },
    graphCache: io.env.FGCLIP_CACHE ?? true,
    onWarning: quiet ? undefined : (m) => io.stderr.write(`fgclip: warning: ${m}\n`),
  };
}

export async function withModel<T>(values: Values, command: string, io: Io, fn: (m: FgClip) => Promise<T>): Promise<T> {
  const model = await FgClip.load(requireModel(values, command), loadOptions(values, io));
  try {
    return await fn(model);
  } finally {
    model.dispose();
  }
}

export function printJson(io: Io, value: unknown): void {
  io.stdout.write(JSON.stringify(value, (_k, v) => (v instanceof Float32Array ? Array.from(v) : v)) + '\n');
}

/** Exit code for an error: 2 for usage, 1 for everything else. */
export function reportError(io: Io, e: unknown): number {
  if (e instanceof UsageError) {
    io.stderr.write(`fgclip: ${e.message} (see fgclip --help)\n`);
    return 2;
  }
  if (e instanceof FgClipError) {
    io.stderr.write(`fgclip: error [${e.code}]: ${e.message.replace(/\n/g, ' ')}\n`);
    return 1;
  }
  const msg = e instanceof Error ? e.message : String(e);
  io.stderr.write(`fgclip: unexpected error: ${msg.replace(/\n/g, ' ')}\n`);
  if (io.env.FGCLIP_DEBUG && e instanceof Error && e.stack) io.stderr.write(e.stack + '\n');
  return 1;
}

/** Parses "x1,y1,x2,y2". */
export function parseBox(s: string): [number, number, number, number] {
  const parts = s.split(',').map((p) => p.trim());
  const nums = parts.map(Number);
  if (parts.length !== 4 || parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n))) {
    throw new UsageError(`--box: expected x1,y1,x2,y2 in pixels (got ${JSON.stringify(s)})`);
  }
  return nums as [number, number, number, number];
}

export function fmtVec(v: Float32Array, n = 4): string {
  return `[${Array.from(v.subarray(0, n), (x) => x.toFixed(4)).join(', ')}${v.length > n ? ', …' : ''}] (${v.length} dims)`;
}
