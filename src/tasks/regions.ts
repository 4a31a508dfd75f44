/**
 * Region classification as the FG-OVD protocol scores it (fgovd_eval.py:77-126): per box, the RoI feature of the
 * dense map and the candidate texts (short captions, `text_projection`), both L2-normalized,
 * p = softmax(100 · cos) over the texts.
 */
import { FgClipError } from '../errors.js';
import type { Encoder, ImageInput } from '../model/encoder.js';
import type { PixelBox } from '../model/boxes.js';
import { cosine, softmax } from '../postprocess/similarity.js';

/** FG-OVD's fixed temperature (fgovd_eval.py: `100.0 * image_features @ text_features.T`). */
export const FGOVD_SCALE = 100;

export interface LabelScore {
  readonly label: string;
  readonly probability: number;
  readonly cosine: number;
}

export interface RegionResult {
  readonly box: PixelBox;
  readonly labels: LabelScore[];
}

/** Ranks labels by probability, highest first (stable for ties). */
export function rankLabels(labels: readonly string[], cosines: readonly number[], scale: number): LabelScore[] {
  const p = softmax(cosines.map((c) => c * scale));
  return labels.map((label, i) => ({ label, probability: p[i], cosine: cosines[i] })).sort((a, b) => b.probability - a.probability);
}

/** Labels with given probabilities (e.g. a model's sigmoid scores), highest first (stable for ties). */
export function rankByProbability(labels: readonly string[], cosines: readonly number[], probs: readonly number[]): LabelScore[] {
  return labels.map((label, i) => ({ label, probability: probs[i], cosine: cosines[i] })).sort((a, b) => b.probability - a.probability);
}

export function checkLabels(labels: readonly string[], where: string): void {
  if (labels.length === 0) throw new FgClipError('INPUT_INVALID', `${where}: the label list is empty (give at least one label)`);
  const bad = labels.findIndex((l) => typeof l !== 'string' || l.trim() === '');
  if (bad >= 0) throw new FgClipError('INPUT_INVALID', `${where}: label ${bad + 1} is empty`);
}

/** Per region feature (normalized), the labels ranked as FG-OVD scores them: softmax(scale · cos), highest first. */
export function rankRegionLabels(
  regions: readonly Float32Array[],
  boxes: readonly PixelBox[],
  labels: readonly string[],
  labelEmbeddings: readonly Float32Array[],
  scale = FGOVD_SCALE,
): RegionResult[] {
  return regions.map((r, i) => ({
    box: boxes[i],
    labels: rankLabels(
      labels,
      labelEmbeddings.map((t) => cosine(r, t)),
      scale,
    ),
  }));
}

/** The text path region labels take: the box head when the model has one (FG-CLIP 2's box tasks: walk_type="box"), else short (FG-OVD: max_length 77). */
export function regionTextMode(model: Encoder): 'box' | 'short' {
  return model.textLengths.box !== undefined ? 'box' : 'short';
}

export async function classifyRegions(
  model: Encoder,
  image: ImageInput,
  boxes: readonly PixelBox[],
  labels: readonly string[],
  opts: { scale?: number; truncate?: boolean } = {},
): Promise<RegionResult[]> {
  checkLabels(labels, 'regions');
  if (boxes.length === 0) throw new FgClipError('INPUT_INVALID', 'regions: no boxes given');
  const [[enc], text] = await Promise.all([
    model.encodeImages([image], { boxes: [boxes] }),
    model.encodeTexts(labels, { mode: regionTextMode(model), truncate: opts.truncate }),
  ]);
  return rankRegionLabels(enc.regions ?? [], boxes, labels, text.embeddings, opts.scale);
}
