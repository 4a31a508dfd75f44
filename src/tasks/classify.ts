/**
 * Zero-shot classification as the model card and the ImageNet evaluation compute it (docs/model-spec.md §6.5, §8 item 1):
 * per label, the prompts (label × templates) are encoded on the short path, L2-normalized, averaged and renormalized
 * (`ensemble`); per image, p = softmax(exp(logit_scale) · cos(image, label)) over the labels.
 *
 * Label embeddings are cached (memory, and disk unless `cache: false`) per model identity, template set and label,
 * so a large run encodes each prompt once; images are decoded and encoded `batchSize` at a time, and an image that
 * cannot be decoded is reported in `skipped` (and to `onWarning`) while the others go on.
 */
import { FgClipError } from '../errors.js';
import type { Encoder, ImageInput } from '../model/encoder.js';
import type { RgbImage } from '../preprocess/index.js';
import { dot, ensemble } from '../postprocess/similarity.js';
import { VectorStore, type CacheSetting } from '../cache/vector-store.js';
import { decodeOrSkip, describeInput, isSkipped, type SkippedImage } from './images.js';
import { modelIdentity, sha256 } from '../cache/model-identity.js';
import { checkLabels, rankByProbability, rankLabels, type LabelScore } from './regions.js';
import { fillTemplate, resolveTemplates, type TemplateSpec } from './templates.js';

export interface LabelEmbeddingOptions {
  /** prompt templates (default 'none': the label itself is the prompt) */
  readonly templates?: TemplateSpec;
  /** disk cache settings, or false for memory only (default: the fgclip cache folder) */
  readonly cache?: CacheSetting;
  /** prompts per text-tower call (default 256) */
  readonly promptBatch?: number;
  readonly onWarning?: (message: string) => void;
  /** labels encoded so far (only labels not in the cache count) — 1,000 classes × 80 templates take a while */
  readonly onLabelProgress?: (done: number, total: number) => void;
  /** text path of the prompts: 'short' (default), or 'box' for region labels of a model with a box head (FG-CLIP 2) */
  readonly mode?: 'short' | 'box';
}

export interface ClassifyOptions extends LabelEmbeddingOptions {
  /** keep the K most probable labels per image (default: all) */
  readonly top?: number;
  /** images decoded and encoded per step (default 16) */
  readonly batchSize?: number;
  /** softmax temperature (default: the model's exp(logit_scale)) */
  readonly scale?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ClassifyResult {
  /** the input path, or `<input N>` for bytes and decoded images */
  readonly image: string;
  readonly index: number;
  /** highest probability first */
  readonly labels: LabelScore[];
}

export interface ClassifyOutput {
  readonly results: ClassifyResult[];
  readonly skipped: SkippedImage[];
  /**
   * how `probability` was computed: 'softmax' over the labels (FG-CLIP v1, or any model with an explicit `scale`),
   * or 'sigmoid' = sigmoid(exp(logit_scale)·cos + logit_bias) per label, independent of the others (FG-CLIP 2)
   */
  readonly scoring: 'softmax' | 'sigmoid';
}

/** Store key of one label under one template set (short path: the only one prompts use). */
function labelKey(label: string, templates: readonly string[], mode: 'short' | 'box' = 'short'): string {
  return sha256(JSON.stringify({ mode, templates, label }));
}

/** Label vectors from prompt embeddings laid out label-major (label k's prompts at k·T … k·T+T−1): the ensembles. */
export function promptEnsembles(promptEmbeddings: readonly Float32Array[], templateCount: number): Float32Array[] {
  const n = promptEmbeddings.length / templateCount;
  return Array.from({ length: n }, (_, k) => ensemble(promptEmbeddings.slice(k * templateCount, (k + 1) * templateCount)));
}

/** One image's labels ranked by softmax(scale · cos(image, label vector)), highest first; `top` keeps the first K. */
export function classifyEmbedding(
  embedding: Float32Array,
  labels: readonly string[],
  labelVectors: readonly Float32Array[],
  scale: number,
  top?: number,
): LabelScore[] {
  const ranked = rankLabels(
    labels,
    labelVectors.map((w) => dot(embedding, w)),
    scale,
  );
  return top ? ranked.slice(0, top) : ranked;
}

/**
 * One normalized embedding per label: the template ensemble of its prompts (short path). Cached per model identity,
 * template set and label. Returns the vectors in label order.
 */
/** How `scoreLabels` turns cosines into probabilities: the model's sigmoid (FG-CLIP 2) unless a softmax scale is given. */
export function scoringOf(model: Encoder, scale?: number): 'softmax' | 'sigmoid' {
  return model.scoreKind === 'sigmoid' && scale === undefined ? 'sigmoid' : 'softmax';
}

/**
 * One image embedding against label vectors → labels, most probable first: softmax of scale·cos (default scale
 * exp(logit_scale)), or the model's own sigmoid per label (FG-CLIP 2, see `scoringOf`).
 */
export function scoreLabels(
  model: Encoder,
  embedding: Float32Array,
  labels: readonly string[],
  labelVectors: readonly Float32Array[],
  opts: { scale?: number; top?: number } = {},
): LabelScore[] {
  const ranked =
    scoringOf(model, opts.scale) === 'sigmoid'
      ? rankByProbability(
          labels,
          labelVectors.map((w) => dot(embedding, w)),
          model.probabilities(embedding, labelVectors),
        )
      : classifyEmbedding(embedding, labels, labelVectors, opts.scale ?? model.logitScale);
  return opts.top ? ranked.slice(0, opts.top) : ranked;
}

export async function labelEmbeddings(model: Encoder, labels: readonly string[], opts: LabelEmbeddingOptions = {}): Promise<Float32Array[]> {
  checkLabels(labels, 'labels');
  const templates = resolveTemplates(opts.templates ?? 'none');
  const cache = opts.cache ?? {};
  const store = VectorStore.open(cache, await modelIdentity(model, cache), 'labels', model.embeddingDim);
  const mode = opts.mode ?? 'short';
  const keys = labels.map((l) => labelKey(l, templates, mode));
  const missing = [...new Set(labels.filter((_, i) => !store.has(keys[i])))];
  const perCall = Math.max(templates.length, opts.promptBatch ?? 256);
  const labelsPerCall = Math.max(1, Math.floor(perCall / templates.length));
  for (let s = 0; s < missing.length; s += labelsPerCall) {
    const part = missing.slice(s, s + labelsPerCall);
    const prompts = part.flatMap((l) => templates.map((t) => fillTemplate(t, l)));
    const enc = await model.encodeTexts(prompts, { mode });
    enc.truncated.forEach((t, i) => t && opts.onWarning?.(`prompt ${JSON.stringify(prompts[i])} has ${enc.tokenCounts[i]} tokens; cut to the short path's 77`));
    promptEnsembles(enc.embeddings, templates.length).forEach((v, k) => store.put(labelKey(part[k], templates, mode), v));
    store.flush();
    opts.onLabelProgress?.(Math.min(s + labelsPerCall, missing.length), missing.length);
  }
  return keys.map((k) => store.get(k) as Float32Array);
}

function checkClassify(labels: readonly string[], opts: ClassifyOptions): void {
  checkLabels(labels, 'classify');
  const seen = new Map<string, number>();
  labels.forEach((l, i) => {
    const j = seen.get(l);
    if (j !== undefined)
      throw new FgClipError(
        'INPUT_INVALID',
        `classify: label ${i + 1} ${JSON.stringify(l)} repeats label ${j + 1} (each label must be unique: duplicates split the probability)`,
      );
    seen.set(l, i);
  });
  for (const [name, v] of [
    ['top', opts.top],
    ['batchSize', opts.batchSize],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new FgClipError('INPUT_INVALID', `classify: ${name} must be a positive integer (got ${v})`);
  }
  if (opts.scale !== undefined && !(Number.isFinite(opts.scale) && opts.scale > 0))
    throw new FgClipError('INPUT_INVALID', `classify: scale must be a positive number (got ${opts.scale})`);
}

/** Classifies images batch by batch, yielding each batch's results and skipped images as soon as they are known. */
export async function* classifyImagesIter(
  model: Encoder,
  images: readonly ImageInput[],
  labels: readonly string[],
  opts: ClassifyOptions = {},
): AsyncGenerator<ClassifyOutput> {
  checkClassify(labels, opts);
  if (images.length === 0) throw new FgClipError('INPUT_INVALID', 'classify: the list of images is empty');
  const W = await labelEmbeddings(model, labels, opts);
  const scoring = scoringOf(model, opts.scale);
  const bs = opts.batchSize ?? 16;
  for (let s = 0; s < images.length; s += bs) {
    const idx = images.slice(s, s + bs).map((_, k) => s + k);
    const decoded = await Promise.all(idx.map((i) => decodeOrSkip(model, images[i], i)));
    const skipped = decoded.filter(isSkipped);
    for (const x of skipped) opts.onWarning?.(`skipping ${x.image}: ${x.message}`);
    const ok = idx.filter((_, k) => !isSkipped(decoded[k]));
    const results: ClassifyResult[] = [];
    if (ok.length > 0) {
      const enc = await model.encodeImages(ok.map((i) => decoded[i - s] as RgbImage));
      enc.forEach((e, k) => {
        results.push({
          image: describeInput(images[ok[k]], ok[k]),
          index: ok[k],
          labels: scoreLabels(model, e.embedding, labels, W, { scale: opts.scale, top: opts.top }),
        });
      });
    }
    opts.onProgress?.(Math.min(s + bs, images.length), images.length);
    yield { results, skipped, scoring };
  }
}

/** Classifies all images; see `classifyImagesIter` for streaming. */
export async function classifyImages(
  model: Encoder,
  images: readonly ImageInput[],
  labels: readonly string[],
  opts: ClassifyOptions = {},
): Promise<ClassifyOutput> {
  const results: ClassifyResult[] = [];
  const skipped: SkippedImage[] = [];
  let scoring: ClassifyOutput['scoring'] = 'softmax';
  for await (const part of classifyImagesIter(model, images, labels, opts)) {
    results.push(...part.results);
    skipped.push(...part.skipped);
    scoring = part.scoring;
  }
  return { results, skipped, scoring };
}
