/** Assembly of an `ImageEncoding` from raw tower outputs, shared by every `Encoder` (library handle, server engine, browser). */
import type { GridBox } from '../postprocess/roi-align.js';
import { l2normalize } from '../postprocess/similarity.js';
import { regionFeatures } from './boxes.js';
import type { DecodedImageFeatures } from '../families/types.js';
import type { EncodeImageOptions, ImageEncoding } from './encoder.js';

/**
 * One square-model image's encoding from its raw tower outputs, as every `Encoder` returns it: normalized unless
 * `normalize: false`, the dense map when asked, one region feature per grid box (RoIAlign on the raw map, then
 * normalized). Shared by the library's handle and the server's engine.
 */
export function imageEncoding(
  size: { readonly width: number; readonly height: number },
  raw: { readonly image: Float32Array; readonly dense: readonly Float32Array[] },
  grid: readonly [number, number],
  boxes: readonly GridBox[],
  opts: EncodeImageOptions,
): ImageEncoding {
  const f = (v: Float32Array) => ((opts.normalize ?? true) ? l2normalize(v) : v);
  return {
    embedding: f(raw.image),
    width: size.width,
    height: size.height,
    grid: [grid[0], grid[1]],
    ...(opts.dense ? { dense: raw.dense.map(f) } : {}),
    ...(opts.boxes ? { regions: regionFeatures(raw.dense, grid, boxes).map(f) } : {}),
  };
}

/**
 * The same for a family that encodes decoded images itself at a resolution of their own (FG-CLIP 2's NaFlex,
 * `FamilyModel.encodeDecoded`): its grid is the image's own, its region features come from the family.
 */
export function decodedImageEncoding(
  size: { readonly width: number; readonly height: number },
  r: DecodedImageFeatures,
  opts: Pick<EncodeImageOptions, 'normalize' | 'dense'> & { readonly boxes?: unknown },
): ImageEncoding {
  const f = (v: Float32Array) => ((opts.normalize ?? true) ? l2normalize(v) : v);
  return {
    embedding: f(r.image),
    width: size.width,
    height: size.height,
    grid: r.grid,
    ...(opts.dense ? { dense: r.dense.map(f) } : {}),
    ...(opts.boxes ? { regions: r.regions.map(f) } : {}),
  };
}
