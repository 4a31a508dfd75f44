/**
 * Ranking candidates (texts or images) against one query (a text or an image) by cosine; across modalities also the
 * model's probabilities over the candidates (softmax of exp(logit_scale)·cos, as the model card scores an image
 * against captions; FG-CLIP 2: its sigmoid per pair).
 */
import { FgClipError } from '../errors.js';
import type { Encoder, ImageInput, TextModeOption } from '../model/encoder.js';
import { dot, softmax } from '../postprocess/similarity.js';

export interface RankHit {
  /** position in the candidate list */
  readonly index: number;
  /** cosine with the query */
  readonly score: number;
  /** cross-modal queries: the model's probability over the candidates */
  readonly probability?: number;
}

/**
 * Candidates by score, highest first (ties keep input order); `scale` given = cross-modal probabilities too (softmax
 * over the candidates), or `probabilities` given = those (a sigmoid model's own score per pair, see crossProbabilities).
 */
export function rankEmbeddings(
  query: Float32Array,
  candidates: readonly Float32Array[],
  opts: { scale?: number; top?: number; probabilities?: readonly number[] } = {},
): RankHit[] {
  const scores = candidates.map((c) => dot(query, c));
  const probs = opts.probabilities ?? (opts.scale !== undefined ? softmax(scores.map((s) => s * (opts.scale as number))) : undefined);
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, opts.top ?? order.length).map((index) => ({ index, score: scores[index], ...(probs ? { probability: probs[index] } : {}) }));
}

export type RankSide = { readonly text: string } | { readonly image: ImageInput };
export type RankCandidates = { readonly texts: readonly string[] } | { readonly images: readonly ImageInput[] };

/** Encodes the query and the candidates (normalized) and ranks them; text mode 'auto' unless given. */
export async function rank(
  model: Encoder,
  query: RankSide,
  candidates: RankCandidates,
  opts: { top?: number; textMode?: TextModeOption; truncate?: boolean } = {},
): Promise<RankHit[]> {
  const mode = opts.textMode ?? 'auto';
  const truncate = opts.truncate;
  const list = 'texts' in candidates ? candidates.texts : candidates.images;
  if (list.length === 0) throw new FgClipError('INPUT_INVALID', 'rank: the candidate list is empty');
  // both sides requested together (a batching encoder merges them with other work)
  const [q, c] = await Promise.all([
    'text' in query
      ? model.encodeTexts([query.text], { mode, truncate }).then((r) => r.embeddings[0])
      : model.encodeImages([query.image]).then((r) => r[0].embedding),
    'texts' in candidates
      ? model.encodeTexts(candidates.texts, { mode, truncate }).then((r) => r.embeddings)
      : model.encodeImages(candidates.images).then((r) => r.map((e) => e.embedding)),
  ]);
  const cross = 'text' in query !== 'texts' in candidates;
  return rankEmbeddings(q, c, cross ? { top: opts.top, ...crossProbabilities(model, q, c) } : { top: opts.top });
}

/**
 * How a cross-modal ranking scores its candidates: softmax of exp(logit_scale)·cos over them (FG-CLIP v1, as the
 * model card), or the model's own sigmoid per (image, text) pair (FG-CLIP 2: `sigmoid(exp(t)·cos + b)`, which is
 * symmetric, so the query may be either side).
 */
export function crossProbabilities(
  model: Encoder,
  query: Float32Array,
  candidates: readonly Float32Array[],
): { scale: number; scoring: 'softmax' } | { probabilities: number[]; scoring: 'sigmoid' } {
  return model.scoreKind === 'sigmoid'
    ? { probabilities: model.probabilities(query, candidates), scoring: 'sigmoid' }
    : { scale: model.logitScale, scoring: 'softmax' };
}
