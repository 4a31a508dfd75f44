/**
 * Test fixture: a stage-2 training batch for the fgclip-small golden checkpoint (96 px, 6×6 grid, quick_gelu, F16
 * storage), built from the inputs of fgclip-small.cases.json, so the training forward can be compared with the
 * reference's inference features and the gradients with finite differences on a checkpoint the loss golden does
 * not cover. `referenceJson` is the same batch in the reference collate's layout (the `fgclip loss` input format).
 */
import { readGoldenJson } from '../test-util/goldens.js';
import { HARD_GROUP } from './graph.js';
import type { NormalizedBox, TrainBatch } from './types.js';

interface SmallCases {
  image: { pixel_values: number[][][][]; features: number[][] };
  text_short: { input_ids: number[][]; features: number[][] };
  text_long: { input_ids: number[][]; features: number[][] };
  roi: { boxes_grid_xyxy: number[][][]; features: number[][] };
}

export const smallCases = () => readGoldenJson<SmallCases>('fgclip-small.cases.json');

export function smallBatch(): { batch: TrainBatch; referenceJson: Record<string, unknown>; cases: SmallCases } {
  const c = smallCases();
  const B = 4;
  const grid = 6;
  const pixels = Float32Array.from(c.image.pixel_values.slice(0, B).flat(3));
  const boxes = c.roi.boxes_grid_xyxy.slice(0, B).map((bs) => bs.map((b) => b.map((v) => v / grid) as unknown as NormalizedBox));
  const short = c.text_short.input_ids;
  // every valid box gets a short text; images 0 and 2 have one hard box each (their second box), 11 texts per hard box
  const boxTexts = boxes.flatMap((bs, i) => bs.map((_, j) => short[(i * 3 + j) % short.length]));
  const hardBoxes: NormalizedBox[][] = boxes.map((bs, i) => (i % 2 === 0 ? [bs[1]] : []));
  const hardTexts = hardBoxes.flatMap((hs, i) => hs.flatMap(() => Array.from({ length: HARD_GROUP }, (_, k) => short[(k + i) % short.length])));
  const batch: TrainBatch = {
    size: B,
    imageSize: 96,
    pixels,
    textLong: c.text_long.input_ids.slice(0, B),
    textShort: short.slice(0, B),
    boxes,
    boxTexts,
    hardBoxes,
    hardTexts,
  };
  const slots = 3;
  const referenceJson = {
    image: c.image.pixel_values.slice(0, B),
    text_short: batch.textShort,
    text_long: batch.textLong,
    box_infos_normalized_xyxy: boxes,
    box_texts: boxTexts,
    box_nums: boxes.map((b) => b.length),
    hard_infos_normalized_xyxy: hardBoxes.map((hs) => [...hs, ...Array.from({ length: slots - hs.length }, () => [0, 0, 0, 0])]),
    hard_texts: hardTexts,
    hard_nums: hardBoxes.map((h) => h.length),
  };
  return { batch, referenceJson, cases: c };
}

/** L2 norm in float64. */
export function l2norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
