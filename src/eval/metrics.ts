/**
 * Ranking metrics shared by the evaluations. Ranks are deterministic: an item's rank is the number of items that
 * score strictly higher, plus the number that tie with it and come earlier in the candidate list (a stable sort).
 * The reference scripts rank with torch's `argsort`/`topk`, whose tie order is unspecified; with float scores of
 * distinct inputs ties are rare, and stating one rule keeps our numbers reproducible.
 */
import { FgClipError } from '../errors.js';

/** 0-based rank of candidate `target` among `scores` (higher is better; ties broken by index). */
export function rankOf(scores: ArrayLike<number>, target: number): number {
  if (!(target >= 0 && target < scores.length)) throw new FgClipError('INPUT_INVALID', `rankOf: target ${target} is outside the ${scores.length} candidates`);
  const s = scores[target];
  let r = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] > s || (scores[i] === s && i < target)) r++;
  return r;
}

/** Best (smallest) rank among several correct candidates, e.g. the 5 captions of a COCO image. */
export function bestRank(scores: ArrayLike<number>, targets: readonly number[]): number {
  if (targets.length === 0) throw new FgClipError('INPUT_INVALID', 'bestRank: no correct candidates');
  return Math.min(...targets.map((t) => rankOf(scores, t)));
}

/** Share of ranks below k, for each k: recall@k (retrieval) or top-k accuracy (classification). */
export function recallAtK<K extends number>(ranks: readonly number[], ks: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of ks) out[k] = ranks.length === 0 ? 0 : ranks.filter((r) => r < k).length / ranks.length;
  return out;
}

/** Indices of the k best scores, best first (ties by index). */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[b] - scores[a] || a - b)
    .slice(0, k);
}
