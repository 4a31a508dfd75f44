/**
 * CLI inputs for batch jobs: image arguments that are files, folders (their images, recursively, sorted) or globs
 * ("photos/*.jpg", matched by tinyglobby), and texts from the command line, a file or stdin (one per line).
 */
import { readFile, stat } from 'node:fs/promises';
import { glob, isDynamicPattern } from 'tinyglobby';
import { FgClipError } from '../errors.js';
import { listImages } from '../tasks/images.js';

/**
 * Expands image arguments in order: a folder becomes its images (listImages: recursive, sorted, hidden entries left
 * out), a glob pattern that is not itself an existing path becomes its matching files (sorted), anything else stays
 * a path (a missing file fails later with the model's typed error). A folder without images or a glob without
 * matches is an INPUT_INVALID error, not an empty job.
 */
export async function expandImageArgs(args: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    const st = await stat(a).catch(() => undefined);
    if (st?.isDirectory()) {
      const found = await listImages(a);
      if (found.length === 0) throw new FgClipError('INPUT_INVALID', `${a}: the folder holds no images (.jpg, .jpeg, .png, .webp, .gif, .tiff, .avif)`);
      out.push(...found);
    } else if (!st && isDynamicPattern(a)) {
      const found = (await glob(a, { onlyFiles: true, dot: false, expandDirectories: false })).sort();
      if (found.length === 0) throw new FgClipError('INPUT_INVALID', `${a}: no files match this pattern`);
      out.push(...found);
    } else out.push(a);
  }
  return out;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Lines of a text source; blank lines are left out (a trailing newline is not an empty text). */
function lines(s: string): string[] {
  return s
    .split('\n')
    .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
    .filter((l) => l.trim() !== '');
}

/**
 * The texts of a command: every `--text` value in order, where the value "-" stands for the lines of stdin, then
 * the lines of each `--texts-file` ("-" = stdin). stdin is read once even if named twice.
 */
export async function readTexts(texts: readonly string[], files: readonly string[], stdin: NodeJS.ReadableStream): Promise<string[]> {
  let stdinLines: string[] | undefined;
  const fromStdin = async () => (stdinLines ??= lines(await readAll(stdin)));
  const out: string[] = [];
  for (const t of texts) out.push(...(t === '-' ? await fromStdin() : [t]));
  for (const f of files) {
    if (f === '-') {
      out.push(...(await fromStdin()));
      continue;
    }
    let s: string;
    try {
      s = await readFile(f, 'utf8');
    } catch (e) {
      throw new FgClipError('INPUT_INVALID', `--texts-file ${f}: cannot read it (${(e as Error).message})`, { cause: e });
    }
    out.push(...lines(s));
  }
  return out;
}
