/**
 * Dense text-patch similarity maps, as the model card's "dense feature effect display" computes them
 * (docs/model-spec.md §2.4, §8 item 3): normalized `get_image_dense_features` rows · the normalized short-path text feature
 * (FG-CLIP 2: the box path, as its card's dense example),
 * one cosine per patch, row-major over the [h, w] grid.
 */
import { FgClipError } from '../errors.js';
import type { Encoder, ImageInput, TextModeOption } from '../model/encoder.js';
import { dot } from '../postprocess/similarity.js';

export interface HeatmapResult {
  /** [h, w] patch grid */
  readonly grid: readonly [number, number];
  readonly texts: string[];
  /** per text, h·w cosines, row-major (patch k is row k / w, column k % w) */
  readonly similarity: number[][];
  /** the image's size, pixels */
  readonly width: number;
  readonly height: number;
}

/** Per text, the cosine of each (normalized) dense patch with the (normalized) text embedding, row-major. */
export function denseSimilarity(dense: readonly Float32Array[], texts: readonly Float32Array[]): number[][] {
  return texts.map((e) => dense.map((d) => dot(d, e)));
}

/** The text path dense maps are compared with by default: short; the box (region-text) head when the model has one (FG-CLIP 2's card: walk_type="box"). */
export function denseTextMode(model: Pick<Encoder, 'textLengths'>): 'box' | 'short' {
  return model.textLengths.box !== undefined ? 'box' : 'short';
}

export async function heatmap(
  model: Encoder,
  image: ImageInput,
  texts: readonly string[],
  opts: { onWarning?: (m: string) => void; mode?: TextModeOption; truncate?: boolean } = {},
): Promise<HeatmapResult> {
  if (!Array.isArray(texts) || texts.length === 0) throw new FgClipError('INPUT_INVALID', 'heatmap: no texts given (expected at least one, e.g. "white cat")');
  const bad = texts.findIndex((t) => typeof t !== 'string' || t.trim() === '');
  if (bad >= 0) throw new FgClipError('INPUT_INVALID', `heatmap: text ${bad + 1} is empty`);
  // one vision pass (dense map) and the texts, requested together (a batching encoder merges them with others)
  const [[enc], t] = await Promise.all([
    model.encodeImages([image], { dense: true }),
    model.encodeTexts(texts, { mode: opts.mode ?? denseTextMode(model), truncate: opts.truncate }),
  ]);
  t.truncated.forEach((x, i) => x && opts.onWarning?.(`text ${JSON.stringify(texts[i])} has ${t.tokenCounts[i]} tokens; cut to fit its text path`));
  const dense = enc.dense ?? [];
  return { grid: [enc.grid[0], enc.grid[1]], texts: [...texts], similarity: denseSimilarity(dense, t.embeddings), width: enc.width, height: enc.height };
}
