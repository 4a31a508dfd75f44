/** Vector helpers over float32 embeddings: L2 normalization, cosine matrices, the model card's probabilities. */
import { FgClipError } from '../errors.js';

/** Returns a new L2-normalized copy (a zero vector stays zero). Norm accumulated in float64. */
export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s);
  const out = new Float32Array(v.length);
  if (n === 0) return out;
  for (let i = 0; i < v.length; i++) out[i] = v[i] / n;
  return out;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new FgClipError('INPUT_INVALID', `dot: length mismatch (${a.length} vs ${b.length})`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

/** rows × cols cosine matrix of two lists of vectors (normalized or not). */
export function cosineMatrix(rows: readonly ArrayLike<number>[], cols: readonly ArrayLike<number>[]): number[][] {
  return rows.map((r) => cols.map((c) => cosine(r, c)));
}

/** Numerically stable softmax (max subtracted), float64. */
export function softmax(logits: readonly number[]): number[] {
  if (logits.length === 0) return [];
  const m = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** The model card's probabilities: softmax over texts of scale·cos(image, text) (scale = exp(logit_scale)). */
export function probabilities(cosines: readonly number[], scale: number): number[] {
  return softmax(cosines.map((c) => c * scale));
}

/** Sigmoid scoring (FG-CLIP 2, SigLIP): per text, independently, sigmoid(scale·cos + bias). */
export function sigmoidProbabilities(cosines: readonly number[], scale: number, bias: number): number[] {
  return cosines.map((c) => 1 / (1 + Math.exp(-(scale * c + bias))));
}

/**
 * Mean of L2-normalized vectors, renormalized: the prompt-template ensemble of the reference's zero-shot
 * evaluation (in_1K/eval_in1k.py zeroshot_classifier).
 */
export function ensemble(vectors: readonly Float32Array[]): Float32Array {
  if (vectors.length === 0) throw new FgClipError('INPUT_INVALID', 'ensemble: no vectors');
  const D = vectors[0].length;
  const acc = new Float64Array(D);
  for (const v of vectors) {
    const n = l2normalize(v);
    for (let i = 0; i < D; i++) acc[i] += n[i];
  }
  const mean = new Float32Array(D);
  for (let i = 0; i < D; i++) mean[i] = acc[i] / vectors.length;
  return l2normalize(mean);
}
