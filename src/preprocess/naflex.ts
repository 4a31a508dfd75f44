/**
 * NaFlex image preprocessing of FG-CLIP 2 (`Fgclip2ImageProcessor`, image_processing_fgclip2.py; fgclip-spec §7.2),
 * exactly: patch budget (fixed, or the dynamic bucket rule), the size search, Pillow BILINEAR resize of the uint8
 * image, rescale in float64 then float32 normalisation with mean = std = 0.5, patchify in (row, col) order with
 * (py, px, c) inside a patch, zero padding to the budget with mask 0. Platform-free.
 *
 * Also the per-image resize of the learned position grid (`resize_positional_embeddings`: PyTorch
 * `F.interpolate(bilinear, align_corners=False, antialias=True)`) as an interpolation matrix, so the graph applies it
 * with one MatMul against the checkpoint's table.
 */
import { FgClipError } from '../errors.js';
import { resizeBilinear } from './resize.js';
import type { RgbImage } from './types.js';

export interface NaflexOptions {
  readonly patchSize: number;
  /** patch budget; replaced by `dynamicMaxPatches(...)` when `dynamic` is true */
  readonly maxNumPatches: number;
  /** `dynamic_max_patches` (the class default is true) */
  readonly dynamic?: boolean;
  readonly rescaleFactor?: number;
  readonly mean?: readonly [number, number, number];
  readonly std?: readonly [number, number, number];
}

export interface NaflexImage {
  /** [maxNumPatches, 3·p·p] */
  readonly pixelValues: Float32Array;
  /** [maxNumPatches]: 1 for the first h·w rows */
  readonly mask: Uint8Array;
  /** [h, w] in patches */
  readonly spatialShape: readonly [number, number];
  readonly maxNumPatches: number;
  readonly patchSize: number;
  /** original image size, (height, width) as the region code wants it */
  readonly imageSizeHw: readonly [number, number];
  /** the resized uint8 image */
  readonly resized: RgbImage;
}

/** Largest patch budget accepted (bounds memory: 16384 patches × 768 floats = 48 MB per image). */
export const MAX_PATCH_BUDGET = 16384;

function bad(what: string): FgClipError {
  return new FgClipError('INPUT_INVALID', `NaFlex preprocessing: ${what}`);
}

/**
 * The bucket rule of `_determine_max_value` / the model card's `determine_max_value`:
 * n = (W // p)·(H // p) of the original image; > 784 → 1024, > 576 → 784, > 256 → 576, > 128 → 256, else 128.
 */
export function dynamicMaxPatches(width: number, height: number, patchSize = 16): number {
  const n = Math.floor(width / patchSize) * Math.floor(height / patchSize);
  if (n > 784) return 1024;
  if (n > 576) return 784;
  if (n > 256) return 576;
  if (n > 128) return 256;
  return 128;
}

/**
 * `get_image_size_for_max_num_patches`: binary search of a scale in [1e-6, 100] until the interval is < 1e-5; each
 * side becomes max(p, ceil(side·scale / p)·p); the largest scale with (H/p)(W/p) ≤ budget wins. Float64 throughout,
 * in the reference's operation order. Returns [height, width].
 */
export function naflexTargetSize(height: number, width: number, patchSize: number, maxNumPatches: number): [number, number] {
  const eps = 1e-5;
  const scaled = (scale: number, size: number): number => Math.max(patchSize, Math.ceil((size * scale) / patchSize) * patchSize);
  let lo = eps / 10;
  let hi = 100.0;
  while (hi - lo >= eps) {
    const scale = (lo + hi) / 2;
    const th = scaled(scale, height);
    const tw = scaled(scale, width);
    if ((th / patchSize) * (tw / patchSize) <= maxNumPatches) lo = scale;
    else hi = scale;
  }
  return [scaled(lo, height), scaled(lo, width)];
}

/** Resolves the budget for one image (the dynamic rule at the processor's patch size, else the fixed value). */
function patchBudget(img: { width: number; height: number }, opts: NaflexOptions): number {
  return opts.dynamic ? dynamicMaxPatches(img.width, img.height, opts.patchSize) : opts.maxNumPatches;
}

function checkNaflexOptions(opts: NaflexOptions): void {
  const { patchSize: p, maxNumPatches: m } = opts;
  if (!Number.isSafeInteger(p) || p < 1 || p > 64) throw bad(`patch size must be an integer in 1..64 (got ${p})`);
  if (!Number.isSafeInteger(m) || m < 1 || m > MAX_PATCH_BUDGET) throw bad(`max_num_patches must be an integer in 1..${MAX_PATCH_BUDGET} (got ${m})`);
}

/** One decoded RGB image → NaFlex patches (image_processing_fgclip2.py `_preprocess`). */
export function naflexPreprocess(img: RgbImage, opts: NaflexOptions): NaflexImage {
  checkNaflexOptions(opts);
  const p = opts.patchSize;
  const budget = patchBudget(img, opts);
  if (budget > MAX_PATCH_BUDGET) throw bad(`max_num_patches ${budget} exceeds ${MAX_PATCH_BUDGET}`);
  const [H, W] = naflexTargetSize(img.height, img.width, p, budget);
  const resized = resizeBilinear(img, W, H);
  const h = H / p;
  const w = W / p;
  const rowLen = 3 * p * p;
  const pixelValues = new Float32Array(budget * rowLen);
  const mask = new Uint8Array(budget);
  const factor = opts.rescaleFactor ?? 1 / 255;
  const mean = opts.mean ?? [0.5, 0.5, 0.5];
  const std = opts.std ?? [0.5, 0.5, 0.5];
  const m32 = mean.map((v) => Math.fround(v));
  const s32 = std.map((v) => Math.fround(v));
  // per byte value and channel: float32(u8 · factor) then (x − mean)/std in float32
  const lut = new Float32Array(256 * 3);
  for (let v = 0; v < 256; v++) {
    const x = Math.fround(v * factor);
    for (let ch = 0; ch < 3; ch++) lut[v * 3 + ch] = Math.fround(Math.fround(x - m32[ch]) / s32[ch]);
  }
  const src = resized.data;
  for (let py = 0; py < h; py++) {
    for (let px = 0; px < w; px++) {
      const r = py * w + px;
      mask[r] = 1;
      let o = r * rowLen;
      for (let y = 0; y < p; y++) {
        let s = ((py * p + y) * W + px * p) * 3;
        for (let x = 0; x < p; x++) {
          for (let ch = 0; ch < 3; ch++, s++) pixelValues[o++] = lut[src[s] * 3 + ch];
        }
      }
    }
  }
  return { pixelValues, mask, spatialShape: [h, w], maxNumPatches: budget, patchSize: p, imageSizeHw: [img.height, img.width], resized };
}

/**
 * PyTorch's antialiased bilinear weights for one axis (UpSampleKernel.cpp `_compute_indices_min_size_weights_aa`
 * with align_corners=False): scale = in/out, support = max(scale, 1), triangle filter of width `support`, taps
 * [trunc(center − support + 0.5), trunc(center + support + 0.5)) clipped to the input, normalised to sum 1.
 * Returns [out, in] row-major, float64.
 */
export function aaBilinearWeights(inSize: number, outSize: number): Float64Array {
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1.0;
  const invscale = scale >= 1 ? 1 / scale : 1.0;
  const W = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    for (let j = xmin; j < xmax; j++) {
      const t = Math.abs((j - center + 0.5) * invscale);
      const v = t < 1 ? 1 - t : 0;
      W[i * inSize + j] = v;
      total += v;
    }
    if (total !== 0) for (let j = xmin; j < xmax; j++) W[i * inSize + j] /= total;
  }
  return W;
}

/**
 * The matrix M [maxLength, grid²] with `M · table` = the reference's resized, padded position embeddings for an
 * image of h×w patches: row r = i·w + j (r < h·w) holds Wh[i, a]·Ww[j, b] at column a·grid + b; rows ≥ h·w repeat
 * row 0 (the reference copies the first resized row into the padding).
 */
export function positionResizeMatrix(grid: number, h: number, w: number, maxLength: number): Float32Array {
  if (h * w > maxLength) throw bad(`spatial shape ${h}×${w} exceeds ${maxLength} patches`);
  const G2 = grid * grid;
  const Wh = aaBilinearWeights(grid, h);
  const Ww = aaBilinearWeights(grid, w);
  const M = new Float32Array(maxLength * G2);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const r = (i * w + j) * G2;
      for (let a = 0; a < grid; a++) {
        const wa = Wh[i * grid + a];
        if (wa === 0) continue;
        for (let b = 0; b < grid; b++) M[r + a * grid + b] = wa * Ww[j * grid + b];
      }
    }
  }
  for (let r = h * w; r < maxLength; r++) M.copyWithin(r * G2, 0, G2);
  return M;
}
