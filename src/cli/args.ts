/**
 * Shared CLI plumbing: option parsing (commander: unknown options are errors with "did you mean" suggestions, per-option
 * help), the options every model command takes, output helpers, and the error → exit code mapping. Commands stay
 * thin: they parse, call the library, and format.
 *
 * A command declares its options as a plain table (`Options`: name → {type, short?, multiple?, description?,
 * default?, valueName?}); `parse()` turns the table into a commander command and returns `{values, positionals}` keyed
 * by the option names as written (`values['max-length']`, `values['no-cache']`). Options without a description take
 * theirs from ./help.ts (per command, then shared). `--help`/`-h` makes `parse()` throw HelpRequested (main prints it, exit 0).
 */
import { Command, CommanderError, Option } from 'commander';
import { FgClipError } from '../errors.js';
import type { LoadOptions } from '../model/handle.js';
import { FgClip } from '../model/handle.js';
import { progressBar } from '../hub/index.js';
import { optionDoc } from './help.js';
import { loadStatus } from './progress.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** One line for --help (falls back to ./help.ts). */
  readonly description?: string;
  /** Shown in --help as "(default: …)"; the command applies its defaults itself. */
  readonly default?: string;
  /** Placeholder in --help (`--model <DIR|REPO>`); defaults to the option name in capitals. */
  readonly valueName?: string;
}
export type Options = Readonly<Record<string, OptionSpec>>;

export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  /** Standard input (for `--text -` / `--texts-file -`); process.stdin when absent. */
  readonly stdin?: NodeJS.ReadableStream;
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

/** Thrown by parse() on --help/-h: `help` is the command's option list (main adds usage and examples). */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
  constructor(readonly help: string) {
    super('help requested');
  }
}

export interface Parsed {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

/** The commander command for an option table (also used to render help). */
function buildCommand(command: string, options: Options): { cmd: Command; attrs: Map<string, { name: string; negate: boolean }> } {
  const cmd = new Command(command)
    .exitOverride()
    .allowExcessArguments(true)
    .argument('[args...]')
    .helpOption('-h, --help', 'show this help')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} })
    .configureHelp({ sortOptions: false, helpWidth: 110 });
  const attrs = new Map<string, { name: string; negate: boolean }>();
  for (const [name, spec] of Object.entries(options)) {
    if (name === 'help') continue;
    const doc = optionDoc(command, name);
    const valueName = spec.valueName ?? doc?.valueName ?? name.toUpperCase().replace(/-/g, '_');
    const flags = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.type === 'string' ? ` <${valueName}>` : ''}`;
    const def = spec.default ?? doc?.default;
    const description = `${spec.description ?? doc?.description ?? ''}${def !== undefined ? ` (default: ${def})` : ''}${spec.multiple ? ' [repeatable]' : ''}`;
    const opt = new Option(flags, description);
    if (spec.multiple) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(opt);
    attrs.set(opt.attributeName(), { name, negate: opt.negate });
  }
  return { cmd, attrs };
}

/** Parses argv against an option table; unknown options are UsageErrors with commander's "did you mean" hint. */
export function parse(command: string, argv: readonly string[], options: Options): Parsed {
  const { cmd, attrs } = buildCommand(command, options);
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') throw new HelpRequested(cmd.helpInformation());
      throw new UsageError(`${command}: ${e.message.replace(/^error: /, '').replace(/\n/g, ' ')}`);
    }
    throw e;
  }
  const values: Record<string, string | boolean | string[] | undefined> = {};
  for (const [attr, v] of Object.entries(cmd.opts())) {
    const a = attrs.get(attr);
    if (!a || v === undefined) continue;
    // `--no-cache` is commander's negation of `cache`: report it under its own name, as the table wrote it
    if (a.negate) {
      if (v === false) values[a.name] = true;
    } else values[a.name] = v as string | boolean | string[];
  }
  return { values, positionals: [...cmd.args] };
}

/** The option list of a command, as --help prints it. */
export function optionsHelp(command: string, options: Options): string {
  return buildCommand(command, options).cmd.helpInformation();
}

type Values = Parsed['values'];

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
  if (!m)
    throw new UsageError(`${command}: --model DIR|REPO is required (a local folder in the Hugging Face layout, or a Hub id such as qihoo360/fg-clip-base)`);
  return m;
}

export function loadOptions(values: Values, io: Io): LoadOptions {
  const pre = str(values, 'preprocess');
  if (pre !== undefined && pre !== 'squash' && pre !== 'crop') throw new UsageError(`--preprocess: expected squash or crop (got ${JSON.stringify(pre)})`);
  const quiet = flag(values, 'quiet');
  const dtype = str(values, 'dtype');
  if (dtype !== undefined && dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'int8')
    throw new UsageError(`--dtype: expected fp32, fp16 or int8 (got ${JSON.stringify(dtype)})`);
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
  const name = requireModel(values, command);
  const options = loadOptions(values, io);
  const status = loadStatus(io.stderr, name, flag(values, 'quiet'));
  let model: FgClip;
  try {
    model = await FgClip.load(name, { ...options, hub: { ...options.hub, onProgress: status.onDownload(options.hub?.onProgress) } });
    status.done(true);
  } catch (e) {
    status.done(false);
    throw e;
  }
  try {
    return await fn(model);
  } finally {
    model.dispose();
  }
}

export function printJson(io: Io, value: unknown): void {
  io.stdout.write(JSON.stringify(value, (_k, v) => (v instanceof Float32Array ? Array.from(v) : v)) + '\n');
}

/** How an error is reported: the command (for the help hint) and whether it asked for JSON output. */
export interface ErrorContext {
  readonly command?: string;
  /** The command line has --json or --jsonl: also print {"error": {"code", "message"}} on stdout. */
  readonly json?: boolean;
}

/** The code and one-line message of any error the CLI reports (USAGE for bad usage, UNEXPECTED for a bug). */
export function describeError(e: unknown): { code: string; message: string } {
  const oneLine = (m: string) => m.replace(/\s*\n\s*/g, ' ').trim();
  if (e instanceof UsageError) return { code: 'USAGE', message: oneLine(e.message) };
  if (e instanceof FgClipError) return { code: e.code, message: oneLine(e.message) };
  return { code: 'UNEXPECTED', message: oneLine(e instanceof Error ? e.message : String(e)) };
}

/**
 * Reports an error: one line on stderr (`fgclip: error [CODE]: …`), plus the same as JSON on stdout when the command
 * line asked for --json/--jsonl. Exit code: 2 for usage, 1 for everything else.
 */
export function reportError(io: Io, e: unknown, ctx: ErrorContext = {}): number {
  const { code, message } = describeError(e);
  if (ctx.json) printJson(io, { error: { code, message } });
  if (e instanceof UsageError) {
    io.stderr.write(`fgclip: ${message} (fgclip ${ctx.command ? `${ctx.command.split(' ')[0]} ` : ''}--help)\n`);
    return 2;
  }
  if (e instanceof FgClipError) {
    io.stderr.write(`fgclip: error [${code}]: ${message}\n`);
    return 1;
  }
  io.stderr.write(`fgclip: unexpected error: ${message}${io.env.FGCLIP_DEBUG ? '' : ' (FGCLIP_DEBUG=1 for the stack)'}\n`);
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
