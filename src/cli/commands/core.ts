/** `fgclip tokenize | embed | dense`: the core contract commands (JSON shapes in the README are a contract). */
import { writeFileSync } from 'node:fs';
import { FgClipError } from '../../errors.js';
import { familyOf } from '../../families/registry.js';
import { resolveModelDir } from '../../hub/index.js';
import { ClipTokenizer } from '../../tokenizer/index.js';
import { countProgress } from '../progress.js';
import { expandImageArgs, readTexts } from '../inputs.js';
import { encodeNpy } from '../npy.js';
import { flag, fmtVec, int, MODEL_OPTIONS, parse, printJson, requireModel, str, strs, UsageError, withModel, type Io } from '../args.js';
import { nodeFolder } from '../../platform/node/folder.js';

export async function tokenizeCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('tokenize', argv, { ...MODEL_OPTIONS, 'max-length': { type: 'string' }, 'no-padding': { type: 'boolean' } });
  if (positionals.length === 0) throw new UsageError('tokenize: give one or more TEXT arguments');
  const dir = await resolveModelDir(requireModel(values, 'tokenize'), { revision: str(values, 'revision') });
  const { family } = await familyOf(dir);
  // FG-CLIP 2 (SentencePiece-BPE, 64 tokens short/box, 196 long); FG-CLIP v1 (CLIP BPE, 77 / 248)
  const tok = family.loadTokenizer ? await family.loadTokenizer(nodeFolder(dir)) : await ClipTokenizer.fromFolder(nodeFolder(dir));
  const maxLength = int(values, 'max-length', 2) ?? (family.loadTokenizer ? 64 : 77);
  const enc = tok.encodeBatch(positionals, { maxLength, padding: !flag(values, 'no-padding') });
  if (flag(values, 'json')) {
    printJson(io, { ids: enc.map((e) => e.ids), truncated: enc.map((e) => e.truncated), lengths: enc.map((e) => e.length) });
  } else {
    enc.forEach((e, i) =>
      io.stdout.write(
        `${JSON.stringify(positionals[i])}: ${e.length} tokens${e.truncated ? ` (truncated, ${e.droppedTokens} dropped)` : ''}\n  ${e.ids.slice(0, e.length).join(' ')}\n`,
      ),
    );
  }
  return 0;
}

/**
 * Inputs per library call. 16 images = two model batches: a call of more than one batch decodes and resizes in the
 * worker pool while the model runs (one batch or less is decoded on the calling thread), so smaller calls would be
 * slower; the progress line ticks every second meanwhile.
 */
const EMBED_CHUNK = 16;

/** Writes an output file the user named; a failure (missing folder, permissions, disk full) is INPUT_INVALID. */
function writeOutput(option: string, file: string, data: string | Uint8Array): void {
  try {
    writeFileSync(file, data);
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `${option} ${file}: cannot write it (${(e as Error).message})`, { cause: e });
  }
}

export async function embedCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('embed', argv, {
    ...MODEL_OPTIONS,
    text: { type: 'string', short: 't', multiple: true },
    'texts-file': { type: 'string', multiple: true },
    image: { type: 'string', short: 'i', multiple: true },
    long: { type: 'boolean' },
    short: { type: 'boolean' },
    walk: { type: 'string' },
    raw: { type: 'boolean' },
    jsonl: { type: 'boolean' },
    npy: { type: 'string' },
    paths: { type: 'string' },
  });
  const textArgs = strs(values, 'text');
  const textFiles = strs(values, 'texts-file');
  const imageArgs = [...strs(values, 'image'), ...positionals];
  const wantsTexts = textArgs.length > 0 || textFiles.length > 0;
  if (!wantsTexts && imageArgs.length === 0)
    throw new UsageError('embed: give --text T (repeatable, "-" for stdin), --texts-file FILE, or images (files, folders, globs)');
  if (wantsTexts && imageArgs.length > 0) throw new UsageError('embed: give either texts or images in one call, not both (they come from different towers)');
  if (flag(values, 'long') && flag(values, 'short')) throw new UsageError('embed: --long and --short exclude each other');
  const walk = str(values, 'walk');
  if (walk !== undefined && walk !== 'short' && walk !== 'box' && walk !== 'long' && walk !== 'auto')
    throw new UsageError(`embed: --walk must be short, box, long or auto (got ${JSON.stringify(walk)})`);
  if (walk !== undefined && (flag(values, 'long') || flag(values, 'short'))) throw new UsageError('embed: --walk replaces --long/--short; give one of them');
  const json = flag(values, 'json');
  const jsonl = flag(values, 'jsonl');
  if (json && jsonl) throw new UsageError('embed: --json and --jsonl exclude each other');
  const npy = str(values, 'npy');
  const pathsFile = str(values, 'paths');
  if (pathsFile && !npy) throw new UsageError('embed: --paths FILE goes with --npy FILE (it names the input of each row)');
  const normalize = !flag(values, 'raw');
  const stdin = io.stdin ?? process.stdin;
  if ((stdin as { isTTY?: boolean }).isTTY && [...textArgs, ...textFiles].includes('-'))
    io.stderr.write('fgclip: reading texts from the terminal, one per line; end with Ctrl-D\n');
  const texts = wantsTexts ? await readTexts(textArgs, textFiles, stdin) : [];
  if (wantsTexts && texts.length === 0) throw new UsageError('embed: the text sources hold no texts (blank lines are left out)');
  const images = wantsTexts ? [] : await expandImageArgs(imageArgs);
  const inputs = wantsTexts ? texts : images;
  const progress = flag(values, 'quiet') ? undefined : countProgress(io.stderr, 'embed');
  // --jsonl alone streams: vectors are kept only for outputs written at the end (--json, --npy, the table)
  const keep = json || npy !== undefined || !jsonl;
  return withModel(values, 'embed', io, async (m) => {
    const embeddings: Float32Array[] = [];
    const modes: string[] = [];
    const truncated: boolean[] = [];
    const tokens: number[] = [];
    const mode = walk ?? (flag(values, 'long') ? 'long' : flag(values, 'short') ? 'short' : 'auto');
    const step = EMBED_CHUNK;
    progress?.update(0, inputs.length);
    try {
      for (let at = 0; at < inputs.length; at += step) {
        const chunk = inputs.slice(at, at + step);
        if (wantsTexts) {
          const r = await m.encodeTexts(chunk, { mode, normalize });
          r.embeddings.forEach((e, i) => {
            const k = at + i;
            if (keep) embeddings.push(e);
            modes.push(r.modes[i]);
            truncated.push(r.truncated[i]);
            tokens.push(r.tokenCounts[i]);
            if (r.truncated[i])
              io.stderr.write(
                `fgclip: warning: text ${k + 1} has ${r.tokenCounts[i]} tokens and was truncated to ${m.textLengths[r.modes[i]] ?? m.textLengths.short}\n`,
              );
            if (jsonl) printJson(io, { index: k, text: texts[k], embedding: e, mode: r.modes[i], truncated: r.truncated[i], tokens: r.tokenCounts[i] });
          });
        } else {
          const r = await m.encodeImages(chunk, { normalize });
          r.forEach((x, i) => {
            if (keep) embeddings.push(x.embedding);
            if (jsonl) printJson(io, { index: at + i, image: images[at + i], embedding: x.embedding });
          });
        }
        progress?.update(Math.min(at + step, inputs.length), inputs.length);
      }
    } finally {
      progress?.done();
    }
    if (npy) writeOutput('--npy', npy, encodeNpy(embeddings));
    if (pathsFile) writeOutput('--paths', pathsFile, inputs.map((x) => x.replace(/[\r\n]/g, ' ') + '\n').join(''));
    if (json) printJson(io, wantsTexts ? { embeddings, modes, truncated, tokens } : { embeddings });
    else if (!jsonl) embeddings.forEach((e, i) => io.stdout.write(`${wantsTexts ? `text ${JSON.stringify(texts[i])}` : `image ${images[i]}`}: ${fmtVec(e)}\n`));
    return 0;
  });
}

export async function denseCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('dense', argv, {
    ...MODEL_OPTIONS,
    image: { type: 'string', short: 'i' },
    raw: { type: 'boolean' },
    npy: { type: 'string' },
  });
  const image = str(values, 'image') ?? positionals[0];
  if (!image) throw new UsageError('dense: --image FILE is required');
  return withModel(values, 'dense', io, async (m) => {
    const [r] = await m.encodeImages([image], { dense: true, normalize: !flag(values, 'raw') });
    const features = r.dense ?? [];
    const npy = str(values, 'npy');
    if (npy) writeOutput('--npy', npy, encodeNpy(features));
    if (flag(values, 'json')) printJson(io, { grid: r.grid, features });
    else io.stdout.write(`${image}: ${r.grid[0]}×${r.grid[1]} patches, ${features[0]?.length ?? 0} dims each${npy ? `, written to ${npy}` : ''}\n`);
    return 0;
  });
}
