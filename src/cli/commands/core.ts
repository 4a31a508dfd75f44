/** `fgclip tokenize | embed | dense`: the core contract commands (JSON shapes in the README are a contract). */
import { writeFileSync } from 'node:fs';
import { familyOf } from '../../families/registry.js';
import { resolveModelDir } from '../../hub/index.js';
import { ClipTokenizer } from '../../tokenizer/index.js';
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
    enc.forEach((e, i) => io.stdout.write(`${JSON.stringify(positionals[i])}: ${e.length} tokens${e.truncated ? ` (truncated, ${e.droppedTokens} dropped)` : ''}\n  ${e.ids.slice(0, e.length).join(' ')}\n`));
  }
  return 0;
}

export async function embedCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('embed', argv, {
    ...MODEL_OPTIONS,
    text: { type: 'string', short: 't', multiple: true },
    image: { type: 'string', short: 'i', multiple: true },
    long: { type: 'boolean' },
    short: { type: 'boolean' },
    walk: { type: 'string' },
    raw: { type: 'boolean' },
    npy: { type: 'string' },
  });
  const texts = strs(values, 'text');
  const images = [...strs(values, 'image'), ...positionals];
  if (texts.length === 0 && images.length === 0) throw new UsageError('embed: give --text T (repeatable) or --image FILE (repeatable)');
  if (texts.length > 0 && images.length > 0) throw new UsageError('embed: give either texts or images in one call, not both (they come from different towers)');
  if (flag(values, 'long') && flag(values, 'short')) throw new UsageError('embed: --long and --short exclude each other');
  const walk = str(values, 'walk');
  if (walk !== undefined && walk !== 'short' && walk !== 'box' && walk !== 'long' && walk !== 'auto') throw new UsageError(`embed: --walk must be short, box, long or auto (got ${JSON.stringify(walk)})`);
  if (walk !== undefined && (flag(values, 'long') || flag(values, 'short'))) throw new UsageError('embed: --walk replaces --long/--short; give one of them');
  const normalize = !flag(values, 'raw');
  return withModel(values, 'embed', io, async (m) => {
    let embeddings: Float32Array[];
    let extra: Record<string, unknown> = {};
    if (texts.length > 0) {
      const mode = walk ?? (flag(values, 'long') ? 'long' : flag(values, 'short') ? 'short' : 'auto');
      const r = await m.encodeTexts(texts, { mode, normalize });
      embeddings = r.embeddings;
      extra = { modes: r.modes, truncated: r.truncated, tokens: r.tokenCounts };
      r.truncated.forEach((t, i) => t && io.stderr.write(`fgclip: warning: text ${i + 1} has ${r.tokenCounts[i]} tokens and was truncated to ${m.textLengths[r.modes[i]] ?? m.textLengths.short}\n`));
    } else {
      const r = await m.encodeImages(images, { normalize });
      embeddings = r.map((x) => x.embedding);
    }
    const npy = str(values, 'npy');
    if (npy) writeFileSync(npy, encodeNpy(embeddings));
    if (flag(values, 'json')) printJson(io, { embeddings, ...extra });
    else embeddings.forEach((e, i) => io.stdout.write(`${texts.length ? `text ${JSON.stringify(texts[i])}` : `image ${images[i]}`}: ${fmtVec(e)}\n`));
    return 0;
  });
}

export async function denseCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('dense', argv, { ...MODEL_OPTIONS, image: { type: 'string', short: 'i' }, raw: { type: 'boolean' }, npy: { type: 'string' } });
  const image = str(values, 'image') ?? positionals[0];
  if (!image) throw new UsageError('dense: --image FILE is required');
  return withModel(values, 'dense', io, async (m) => {
    const [r] = await m.encodeImages([image], { dense: true, normalize: !flag(values, 'raw') });
    const features = r.dense ?? [];
    const npy = str(values, 'npy');
    if (npy) writeFileSync(npy, encodeNpy(features));
    if (flag(values, 'json')) printJson(io, { grid: r.grid, features });
    else io.stdout.write(`${image}: ${r.grid[0]}×${r.grid[1]} patches, ${features[0]?.length ?? 0} dims each${npy ? `, written to ${npy}` : ''}\n`);
    return 0;
  });
}
