/**
 * Analytic FLOP counts (1 multiply-add = 2 FLOP; matmuls only — LayerNorm, softmax, GELU, adds are O(N·D) and
 * left out) for the vision tower of an FG-CLIP v1 config, per image. With g = S/p patches per side,
 * N = g² + 1 tokens, D hidden, I MLP width, L layers, P projection, C = 3 channels:
 *
 *   patch conv          2 · g² · (C·p²) · D
 *   per layer           8·N·D²    q, k, v, out projections (4 × 2·N·D·D)
 *                     + 4·N²·D    attention scores Q·Kᵀ and weights·V (2 × 2·N·N·D, all heads together)
 *                     + 4·N·D·I   MLP fc1 and fc2 (2 × 2·N·D·I)
 *   global head         2 · D · P  visual_projection of the CLS token
 *   dense branch        4·N·D² + 4·N·D·I   last block again without attention (v, out, fc1, fc2; fgclip.py:247-261)
 *                     + 2 · g² · D · P     visual_projection of every patch
 *
 *   global  = patch + L · layer + head                (what get_image_features needs: base ≈ 35.1 GFLOP)
 *   full    = global + dense branch                   (what one runVision pass computes: base ≈ 37.6 GFLOP)
 *
 * Text tower at T tokens, same per-layer formula with N = T (the causal mask does not skip work in a dense
 * matmul), plus 2·D·P for the projection.
 */
import type { ModelShape } from './synthetic.js';

export interface VisionFlops {
  readonly patch: number;
  readonly perLayer: number;
  readonly global: number;
  readonly denseBranch: number;
  readonly full: number;
}

function layer(N: number, D: number, I: number): number {
  return 8 * N * D * D + 4 * N * N * D + 4 * N * D * I;
}

export function visionFlops(s: ModelShape): VisionFlops {
  const g = s.imageSize / s.patchSize;
  const N = g * g + 1;
  const { hidden: D, mlp: I, layers: L } = s.vision;
  const P = s.projection;
  const patch = 2 * g * g * 3 * s.patchSize * s.patchSize * D;
  const perLayer = layer(N, D, I);
  const global = patch + L * perLayer + 2 * D * P;
  const denseBranch = 4 * N * D * D + 4 * N * D * I + 2 * g * g * D * P;
  return { patch, perLayer, global, denseBranch, full: global + denseBranch };
}

/** Text tower FLOPs for one caption run at T positions. */
export function textFlops(s: ModelShape, T: number): number {
  const { hidden: D, mlp: I, layers: L } = s.text;
  return L * layer(T, D, I) + 2 * D * s.projection;
}
