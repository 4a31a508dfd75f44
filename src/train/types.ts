/**
 * The contract between the gradient engine (autodiff + the reference's losses, src/train/ owned by the "engine"
 * side) and the training loop (optimizer, data, Trainer, checkpoints). Parameters are named and shaped exactly as the
 * reference checkpoint stores them (`vision_model.encoder.layers.0.mlp.fc1.weight` [out, in], `logit_scale` [] …),
 * float32, with no inference-time folds.
 */

/** The four parts of the FG-CLIP objective (stage 1 has only the two ITC parts; the others are 0). */
export interface LossParts {
  readonly itc_long: number;
  readonly itc_short: number;
  readonly region: number;
  readonly hard_negative: number;
}

/** A box in [0, 1] image coordinates, `[x1, y1, x2, y2]`. */
export type NormalizedBox = readonly [number, number, number, number];

/**
 * One training batch as the reference's collate gives it (the fields of `fgclip-tiny.loss.json`): pixel values
 * already preprocessed, token ids already padded (248 for long captions, 77 for the rest).
 */
export interface TrainBatch {
  /** images in the batch (B) */
  readonly size: number;
  /** square image side S */
  readonly imageSize: number;
  /** [B, 3, S, S] */
  readonly pixels: Float32Array;
  /** B long captions, 248 ids each */
  readonly textLong: readonly (readonly number[])[];
  /** B short captions, 77 ids each */
  readonly textShort: readonly (readonly number[])[];
  /** stage 2: per image, its valid boxes (at most 4) */
  readonly boxes?: readonly (readonly NormalizedBox[])[];
  /** stage 2: one 77-id text per valid box, in image order then box order */
  readonly boxTexts?: readonly (readonly number[])[];
  /** stage 2: per image, its hard boxes (flag_short_neg == 1) */
  readonly hardBoxes?: readonly (readonly NormalizedBox[])[];
  /** stage 2: per hard box, 11 texts (the positive, then its 10 negatives), 77 ids each, flat */
  readonly hardTexts?: readonly (readonly number[])[];
}

export type Stage = 1 | 2;

export interface GradientRequest {
  readonly stage: Stage;
  /** images per forward/backward chunk; smaller than the batch = the two-pass scheme (same loss and gradients) */
  readonly chunkSize?: number;
  /** parameters that get no gradient (frozen); they are absent from the result */
  readonly frozen?: ReadonlySet<string>;
  /** loss weights (reference defaults: region 0.1, hard negative 0.5) */
  readonly regionWeight?: number;
  readonly hardNegativeWeight?: number;
  /**
   * Buffers to write the gradients into (by parameter name, each the parameter's size), e.g. the previous step's
   * `grads` once the optimizer has used them; the result's `grads` reuse these buffers. Without it every step
   * allocates fresh gradient memory (600 MB for fg-clip-base), whose first touch (page faults, zeroing) costs about
   * half a second per step on a 2-core machine.
   */
  readonly into?: ReadonlyMap<string, Float32Array>;
}

export interface GradientResult {
  readonly loss: number;
  readonly parts: LossParts;
  /** d loss / d parameter, same names, shapes and layout as the parameters */
  readonly grads: ReadonlyMap<string, Float32Array>;
}

export interface GradientEngine {
  /** every trainable parameter: reference name → shape */
  readonly parameters: ReadonlyMap<string, readonly number[]>;
  /** loss and gradients at these parameter values (every name in `parameters`) */
  compute(params: ReadonlyMap<string, Float32Array>, batch: TrainBatch, request: GradientRequest): Promise<GradientResult>;
  dispose(): Promise<void>;
}
