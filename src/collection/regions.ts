/**
 * Region vectors stored per image for "which images contain a region matching this phrase, and where".
 * Each region is the model's own region feature (fgclip.py get_image_box_roi_features: RoIAlign 1×1 over the dense
 * map, our exact torchvision port) of a fixed box, L2-normalized. Schemes (measured in BENCHMARKS.md):
 * - `grid` (default): 18 boxes, multi-scale: half-size windows at quarter strides (3×3) and a 3×3 grid of thirds;
 * - `patches`: one row per patch cell (gridSize² rows: 196 for a 224/16 model), the finest and the largest;
 * - `none`: no regions (global search only).
 * Boxes are fractions of the image; they map to original pixels as the model maps pixel boxes to the grid
 * (x·grid/width, exact for the default square squash).
 */
import { FgClipError } from '../errors.js';
import { roiAlign1x1, type GridBox } from '../postprocess/roi-align.js';
import { l2normalize } from '../postprocess/similarity.js';

export type RegionScheme = 'grid' | 'patches' | 'none';
export const REGION_SCHEMES: readonly RegionScheme[] = ['grid', 'patches', 'none'];

/** A box as fractions of the image's width and height: [x1, y1, x2, y2] in [0, 1]. */
export type UnitBox = readonly [number, number, number, number];

export function checkScheme(s: unknown): RegionScheme {
  if (!REGION_SCHEMES.includes(s as RegionScheme))
    throw new FgClipError('INPUT_INVALID', `regions: scheme must be one of ${REGION_SCHEMES.join(', ')} (got ${JSON.stringify(s)})`);
  return s as RegionScheme;
}

function windows(size: number, stride: number): UnitBox[] {
  const out: UnitBox[] = [];
  const n = Math.round((1 - size) / stride) + 1;
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) out.push([i * stride, j * stride, i * stride + size, j * stride + size]);
  return out;
}

/** The scheme's boxes for a model whose patch grid is `grid`×`grid`. */
export function schemeBoxes(scheme: RegionScheme, grid: number): UnitBox[] {
  switch (scheme) {
    case 'none':
      return [];
    case 'grid':
      return [...windows(1 / 2, 1 / 4), ...windows(1 / 3, 1 / 3)];
    case 'patches':
      return windows(1 / grid, 1 / grid);
  }
}

/**
 * Normalized region vectors of one image from its raw dense map (gridH*gridW vectors of `dim`, row-major). `grid` is
 * the side of a square grid, or the image's own [gridH, gridW] (FG-CLIP 2 NaFlex: each image has its own).
 */
export function regionVectors(
  rawDense: readonly Float32Array[],
  grid: number | readonly [number, number],
  dim: number,
  boxes: readonly UnitBox[],
): Float32Array[] {
  if (boxes.length === 0) return [];
  const [gh, gw] = typeof grid === 'number' ? [grid, grid] : grid;
  const flat = new Float32Array(rawDense.length * dim);
  rawDense.forEach((v, i) => flat.set(v, i * dim));
  const gridBoxes: GridBox[] = boxes.map((b) => [b[0] * gw, b[1] * gh, b[2] * gw, b[3] * gh]);
  return roiAlign1x1(flat, gh, gw, dim, gridBoxes).map((v) => l2normalize(v));
}

/** A unit box in original-image pixels. */
export function toPixels(b: UnitBox, width: number, height: number): [number, number, number, number] {
  return [b[0] * width, b[1] * height, b[2] * width, b[3] * height];
}
