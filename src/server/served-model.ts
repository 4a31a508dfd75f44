/**
 * What the server's engine (engine.ts) needs from a model, all asynchronous so the model can live off the event
 * loop: its facts, text planning (tokenization), the two tower calls, per-image encoding for families that pick a
 * resolution per image (FG-CLIP 2), and image preprocessing. Two implementations: `ModelHost` (model-host.ts: the
 * model in a worker thread, decoding and resizing in a bounded worker pool; what `fgclip serve` uses) and
 * `inProcess(FgClip)` (a handle on the calling thread: for embedding the server in a process that already holds a
 * handle, and for tests; inference then blocks the event loop while it runs).
 */
import type { DecodedImageOptions, TextLengths, TextMode, VisionFeatures, VisionRunOptions } from '../families/types.js';
import type { ImageEncoding, PreprocessedImage } from '../model/encoder.js';
import type { FgClip } from '../model/handle.js';
import { planTextBatches, type TextPlan, type TextPlanOptions } from '../model/text-batches.js';
import { batchPixelValues, type DecodeOptions, type PreprocessOptions, type RgbImage } from '../preprocess/index.js';

/** The model's facts (plain data: they cross from the model worker once, at start). */
export interface ServedModelInfo {
  readonly modelDir: string;
  readonly family: string;
  readonly embeddingDim: number;
  readonly imageSize: number;
  /** patch grid of the square path, [h, w] */
  readonly grid: readonly [number, number];
  readonly textLengths: TextLengths;
  /** exp(logit_scale) */
  readonly logitScale: number;
  readonly scoreKind: 'softmax' | 'sigmoid';
  /** sigmoid scoring's bias (FG-CLIP 2) */
  readonly logitBias?: number;
  /** true: images go through `encodeDecoded` (a resolution per image), not square pixels */
  readonly perImage: boolean;
  readonly decode: DecodeOptions;
  /** the square image flow (what `preprocess` computes) */
  readonly preprocess: PreprocessOptions;
}

/** Per-image encoding options of `encodeDecoded` (raw features come back; the engine normalizes). */
export type DecodedOptions = DecodedImageOptions;

/** A text plan request as it crosses to the model worker (the tokenizer and lengths are the model's). */
export type PlanOptions = Omit<TextPlanOptions, 'tokenizer' | 'lengths' | 'family' | 'mode'> & { readonly mode?: TextPlanOptions['mode'] };

export type { TextPlan };

export interface ServedModel {
  readonly info: ServedModelInfo;
  /** tokenization for the texts' modes (text-plan.ts) */
  planTexts(texts: readonly string[], opts: PlanOptions): Promise<TextPlan>;
  /** rows of one mode → raw text embeddings */
  runText(ids: number[][], mode: TextMode): Promise<Float32Array[]>;
  /**
   * [B, 3, S, S] → raw global features, and dense maps unless `dense: false` (square families). Also takes the B
   * images' [3, S, S] pixels as a list: the batch is then assembled where the model runs (for a ModelHost, in its
   * worker: at 448 px a batch of 16 is a 38 MB copy, ~24 ms of CPU that must not run on the HTTP thread).
   */
  runVision(pixels: Float32Array | readonly Float32Array[], opts?: VisionRunOptions): Promise<VisionFeatures>;
  /** decoded images → raw encodings (families with a resolution per image) */
  encodeDecoded(images: RgbImage[], opts: DecodedOptions): Promise<ImageEncoding[]>;
  /** decodes (bytes or a path) and preprocesses one image with the square flow */
  preprocess(input: string | Uint8Array | RgbImage): Promise<PreprocessedImage>;
  /** frees what the server owns (a host's worker); a borrowed handle stays loaded */
  close(): Promise<void>;
}

export function infoOf(model: FgClip): ServedModelInfo {
  const pc = model.preprocessConfig;
  return {
    modelDir: model.modelDir,
    family: model.family,
    embeddingDim: model.embeddingDim,
    imageSize: model.imageSize,
    grid: [model.gridSize, model.gridSize],
    textLengths: model.textLengths,
    logitScale: model.logitScale,
    scoreKind: model.scoreKind,
    ...(model.logitBias !== undefined ? { logitBias: model.logitBias } : {}),
    perImage: model.perImageResolution,
    decode: model.decodeOptions(),
    preprocess: { size: model.imageSize, mode: model.preprocessMode, mean: pc.image_mean, std: pc.image_std, rescaleFactor: pc.rescale_factor },
  };
}

/** The operations on a loaded handle (what the model worker runs, and `inProcess`). */
export function handleOps(model: FgClip): Omit<ServedModel, 'info' | 'close' | 'preprocess'> {
  return {
    planTexts: async (texts, opts) =>
      planTextBatches(texts, { ...opts, mode: opts.mode ?? 'auto', tokenizer: model.tokenizer, lengths: model.textLengths, family: model.family }),
    runText: (ids, mode) => model.runText(ids, mode),
    runVision: (pixels, opts) => model.runVision(pixels instanceof Float32Array ? pixels : batchPixelValues(pixels, model.imageSize), opts),
    encodeDecoded: (images, opts) => model.encodeImages(images, { normalize: false, dense: opts.dense, boxes: opts.boxes, maxNumPatches: opts.maxNumPatches }),
  };
}

/** The handle on this thread (inference blocks the event loop while it runs: prefer ModelHost for serving). */
export function inProcess(model: FgClip): ServedModel {
  return {
    info: infoOf(model),
    ...handleOps(model),
    preprocess: (input) => model.preprocess(input),
    close: async () => undefined,
  };
}
