/**
 * The training benchmark's batch: B images of noise at the model's size, long captions of ~150 tokens and short
 * prompts (bench/captions.ts); for stage 2 a FineHARD-like layout, 4 boxes per image, the first 2 of them hard
 * (10 negatives each). Deterministic (seeded).
 */
import type { ClipTokenizer } from '../src/tokenizer/index.js';
import type { TrainBatch } from '../src/train/types.js';
import { longCaptions, shortPrompts } from './captions.js';
import { Rng } from './synthetic.js';

export function batchOf(tok: ClipTokenizer, B: number, S: number, stage: 1 | 2): TrainBatch {
  const rng = new Rng(11);
  const pixels = Float32Array.from({ length: B * 3 * S * S }, () => rng.normal());
  const ids = (t: string, n: number) => tok.encode(t, { maxLength: n }).ids;
  const longs = longCaptions(B, (s) => tok.countTokens(s)).map((t) => ids(t, 248));
  const shorts = shortPrompts(B).map((t) => ids(t, 77));
  const base = { size: B, imageSize: S, pixels, textLong: longs, textShort: shorts };
  if (stage === 1) return base;
  // FineHARD-like: 4 boxes per image, the first 2 of them hard (10 negatives each)
  const boxes = Array.from({ length: B }, (_, i) => Array.from({ length: 4 }, (_, k) => [0.05 * k, 0.04 * i, 0.5 + 0.1 * k, 0.6 + 0.04 * k] as const));
  const boxTexts = shortPrompts(4 * B).map((t) => ids(t, 77));
  const hardBoxes = boxes.map((b) => b.slice(0, 2));
  const hardTexts = shortPrompts(11 * 2 * B).map((t, i) => ids(`${t} ${i % 11 ? 'not' : ''}`, 77));
  return { ...base, boxes, boxTexts, hardBoxes, hardTexts };
}
