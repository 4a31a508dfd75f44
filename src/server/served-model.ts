/**
 * What the server needs from a model: its shape, tokenization, the two tower calls, and image preprocessing — all
 * asynchronous, so the model can live off the event loop. Two implementations: `ModelHost` (model-host.ts: the model
 * in a worker thread, preprocessing in a bounded worker pool; what `fgclip serve` uses) and `inProcess(FgClip)` (the
 * handle on the calling thread; for embedding the server in a process that already holds a handle, and for tests).
 */
import type { TextLengths, TextMode } from '../families/types.js';
import type { FgClip, TextModeOption } from '../model/handle.js';
import type { DecodeOptions, RgbImage } from '../preprocess/index.js';

export interface Tokenized {
  /** token count of each text before truncation (bos/eos included) */
  readonly counts: number[];
  /** ids cut/padded to the length of the mode each text runs in (auto: short when it fits) */
  readonly ids: number[][];
  readonly modes: TextMode[];
}

export interface ServedModel {
  readonly modelDir: string;
  readonly embeddingDim: number;
  readonly textLengths: TextLengths;
  readonly imageSize: number;
  readonly gridSize: number;
  readonly logitScale: number;
  decodeOptions(): DecodeOptions;
  /** one decoded image → [3, S, S] model pixels */
  preprocess(rgb: RgbImage): Promise<{ pixels: Float32Array }>;
  tokenize(texts: readonly string[], mode: TextModeOption): Promise<Tokenized>;
  runText(ids: number[][], mode: TextMode): Promise<Float32Array[]>;
  /** [B, 3, S, S] → raw global embeddings and dense maps */
  runVision(pixels: Float32Array): Promise<{ image: Float32Array[]; dense: Float32Array[][] }>;
  /** frees what the server owns (a host's worker); a borrowed handle stays loaded */
  close(): Promise<void>;
}

/** Tokenizes as the server does: mode 'auto' picks short when the text fits the short length, else long. */
export function tokenizeWith(tok: FgClip['tokenizer'], lengths: TextLengths, texts: readonly string[], mode: TextModeOption): Tokenized {
  const max: Record<TextMode, number> = { short: lengths.short, long: lengths.long ?? lengths.short, box: lengths.box ?? lengths.short };
  const counts: number[] = [];
  const ids: number[][] = [];
  const modes: TextMode[] = [];
  for (const t of texts) {
    const n = tok.countTokens(t);
    const m: TextMode = mode === 'auto' ? (n <= max.short ? 'short' : 'long') : mode;
    counts.push(n);
    modes.push(m);
    ids.push(tok.encode(t, { maxLength: max[m] }).ids);
  }
  return { counts, ids, modes };
}

/** The handle on this thread (inference blocks the event loop while it runs: prefer ModelHost for serving). */
export function inProcess(model: FgClip): ServedModel {
  return {
    modelDir: model.modelDir,
    embeddingDim: model.embeddingDim,
    textLengths: model.textLengths,
    imageSize: model.imageSize,
    gridSize: model.gridSize,
    logitScale: model.logitScale,
    decodeOptions: () => model.decodeOptions(),
    preprocess: (rgb) => model.preprocess(rgb),
    tokenize: async (texts, mode) => tokenizeWith(model.tokenizer, model.textLengths, texts, mode),
    runText: (ids, mode) => model.runText(ids, mode),
    runVision: (pixels) => model.runVision(pixels),
    close: async () => undefined,
  };
}
