/**
 * Region boxes in original-image pixels → feature-grid units, as the reference's evaluation scripts map them
 * (fgovd_eval.py:37-53, coco_box_cls.py:68-84): `x_grid = x * grid / width`, `y_grid = y * grid / height`.
 * Exact for the model card's square squash. Boxes are validated: finite, x1 ≤ x2, y1 ≤ y2, and overlapping the
 * image; a box partly outside is kept as given (RoIAlign treats samples outside the map as the reference does).
 */
import { FgClipError } from '../errors.js';
import { roiAlign1x1, type GridBox } from '../postprocess/roi-align.js';

export type PixelBox = readonly [number, number, number, number];

export function validatePixelBox(b: PixelBox, width: number, height: number, where: string): void {
  if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new FgClipError('BOX_INVALID', `${where}: a box is four finite numbers x1,y1,x2,y2 in pixels (got ${JSON.stringify(b)})`);
  }
  const [x1, y1, x2, y2] = b;
  if (x2 < x1 || y2 < y1)
    throw new FgClipError('BOX_INVALID', `${where}: box [${b.join(', ')}] has x2 < x1 or y2 < y1 (expected x1,y1,x2,y2 with x1 ≤ x2, y1 ≤ y2)`);
  if (x2 <= 0 || y2 <= 0 || x1 >= width || y1 >= height) {
    throw new FgClipError('BOX_INVALID', `${where}: box [${b.join(', ')}] lies entirely outside the ${width}×${height} image`);
  }
}

export function boxesToGrid(boxes: readonly PixelBox[], width: number, height: number, grid: number, where: string): GridBox[] {
  return boxes.map((b) => {
    validatePixelBox(b, width, height, where);
    return [(b[0] * grid) / width, (b[1] * grid) / height, (b[2] * grid) / width, (b[3] * grid) / height] as const;
  });
}

/** Region features of grid-unit boxes over one image's dense map (gridH·gridW vectors, row-major): RoIAlign 1×1. */
export function regionFeatures(dense: readonly Float32Array[], grid: readonly [number, number], boxes: readonly GridBox[]): Float32Array[] {
  if (boxes.length === 0) return [];
  const P = dense[0].length;
  const flat = new Float32Array(dense.length * P);
  dense.forEach((v, i) => flat.set(v, i * P));
  return roiAlign1x1(flat, grid[0], grid[1], P, boxes);
}
