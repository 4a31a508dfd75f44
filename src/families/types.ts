/**
 * The seam between the generic model handle (src/model/handle.ts: load once, batch, pool, normalise, dispose) and a
 * model family (src/families/<id>/: config schema, tensor names, graph builders, text-input rules, assembly).
 * A family turns a checkpoint folder into a `FamilyModel`: two towers the handle can run, plus the few facts the
 * handle needs (embedding size, grid, text lengths, tokenizer, preprocessing). The handle never looks inside.
 */
import type { PreprocessConfig } from '../config/types.js';
import type { JsonObject } from '../config/fields.js';
import type { LinearDtype } from '../graph/blocks.js';
import type { PixelBox } from '../model/boxes.js';
import type { RgbImage } from '../preprocess/types.js';
import type { CheckpointFiles } from '../weights/checkpoint-files.js';
import type { GraphStore, ImageDecoder, InferenceRuntime, ModelFolder, RuntimeOptions } from '../platform/ports.js';

/**
 * Text paths: 'short' (every family), 'long' (families with long-caption tables, e.g. FG-CLIP's 248 tokens) and
 * 'box' (families with a region-text head: FG-CLIP 2's `walk_type="box"`).
 */
export type TextMode = 'short' | 'long' | 'box';

/** Image flow: the model card's square squash, or CLIPImageProcessor's shortest-edge resize + center crop. */
export type PreprocessMode = 'squash' | 'crop';

/** Tokens (bos/eos included) each text path takes; `long` is absent when the family has no long path. */
export interface TextLengths {
  readonly short: number;
  readonly long?: number;
  /** the region-text ('box') path, for families that have one */
  readonly box?: number;
}

/** What the handle needs from a tokenizer: counts (before truncation) and ids cut to a length. */
export interface TextTokenizer {
  countTokens(text: string): number;
  encode(text: string, opts: { maxLength: number }): { ids: number[] };
}

/** One vision pass over a batch: per image the raw global embedding and the raw dense map (row-major patches). */
export interface VisionFeatures {
  readonly image: Float32Array[];
  readonly dense: Float32Array[][];
}

/** What one vision pass must produce. */
export interface VisionRunOptions {
  /** compute the dense map (default true) */
  readonly dense?: boolean;
}

/** Load options every family understands (the handle validates them before a family sees them). */
export interface FamilyLoadOptions extends RuntimeOptions {
  /** linear-layer storage of the encoders (default fp32) */
  readonly dtype?: LinearDtype;
  /** square input resolution of the vision tower (default: the checkpoint's) */
  readonly imageSize?: number;
  /** graph cache: true (default folder), a folder, or false (build in memory) */
  readonly graphCache?: boolean | string;
  readonly onWarning?: (message: string) => void;
}

/** The platform's port implementations a family loads with (Node: `nodePorts(dir, options)`, src/platform/node/ports.ts). */
export interface FamilyPorts {
  /** the checkpoint folder (local) */
  readonly dir: string;
  /** the checkpoint folder's files through the platform's file reading port (src/platform/ports.ts) */
  readonly folder: ModelFolder;
  /** the checkpoint's weight files (checkpoint reading port: Node by path, the browser from Blobs) */
  readonly checkpoint: CheckpointFiles;
  /** the ONNX Runtime flavour the graphs run on (runtime port) */
  readonly runtime: InferenceRuntime;
  /** where built graphs are kept between loads (graph cache storage port); undefined: build in memory */
  readonly graphStore?: GraphStore;
  /** how a family's own image entry points decode (image decoding port); the handle decodes before `encodeDecoded` */
  readonly decoder?: ImageDecoder;
}

export interface FamilyLoadContext extends FamilyPorts {
  /** config.json, parsed but not yet validated (the family validates its own schema) */
  readonly config: JsonObject;
  /** config.json's path, for error messages */
  readonly configPath: string;
  readonly options: FamilyLoadOptions;
}

/** A loaded model of some family: what the generic handle runs. */
export interface FamilyModel {
  /** the family's validated config (its own type; e.g. FgClipConfig) */
  readonly config: unknown;
  readonly preprocessConfig: PreprocessConfig;
  /** the image flow when the caller names none (default 'squash', FG-CLIP's model card; CLIP: 'crop' as CLIPProcessor) */
  readonly defaultPreprocess?: PreprocessMode;
  readonly tokenizer: TextTokenizer;
  /** length of the embeddings (projection_dim) */
  readonly embeddingDim: number;
  /** square side the vision graph takes */
  readonly imageSize: number;
  /** patch grid of the dense map, [h, w] */
  readonly grid: readonly [number, number];
  readonly textLengths: TextLengths;
  /** the stored log-scale (`logit_scale`) */
  readonly logitScaleLog: number;
  /** tensors in the checkpoint that the family does not use */
  readonly unknownTensors: readonly string[];
  /** whether the graphs came from the on-disk graph cache */
  readonly fromGraphCache: boolean;
  /** rows of ids of one mode → raw text embeddings; `cut` stops at the batch's last end token (exact) */
  runText(ids: readonly (readonly number[])[], mode: TextMode, cut: boolean): Promise<Float32Array[]>;
  /**
   * [B, 3, S, S] pixel values → raw global and dense features; with `dense: false` the family may skip the dense
   * map (then `dense` holds an empty list per image), which the handle asks for when a call needs no dense map
   */
  runVision(pixels: Float32Array, batch: number, opts?: VisionRunOptions): Promise<VisionFeatures>;
  /** per-text scores of one image from L2-normalized cosines (default: softmax(exp(logit_scale) · cos)) */
  scores?(cosines: readonly number[]): number[];
  /** the bias of sigmoid scoring (`logit_bias`), for families that score with a sigmoid */
  readonly logitBias?: number;
  /** what `scores` computes, for outputs that say it (default 'softmax') */
  readonly scoreKind?: ScoreKind;
  /**
   * Families whose vision input is not a fixed square (FG-CLIP 2's NaFlex: resolution and patch grid per image)
   * encode decoded images themselves; the handle then skips its square preprocessing and `runVision`.
   */
  encodeDecoded?(images: readonly RgbImage[], opts: DecodedImageOptions): Promise<DecodedImageFeatures[]>;
  dispose(): void;
}

export type ScoreKind = 'softmax' | 'sigmoid';

export interface DecodedImageOptions {
  readonly dense: boolean;
  /** per image, boxes in original-image pixels */
  readonly boxes?: readonly (readonly PixelBox[])[];
  /** FG-CLIP 2 patch budget: the model card's rule (default), the processor's, or a fixed number */
  readonly maxNumPatches?: 'card' | 'processor' | number;
}

/** Raw features of one image from `encodeDecoded`: its own grid [h, w], dense rows (when asked), regions. */
export interface DecodedImageFeatures {
  readonly image: Float32Array;
  readonly dense: Float32Array[];
  readonly grid: readonly [number, number];
  readonly regions: Float32Array[];
}

/** Tokenizer of a family as the `tokenize` command uses it. */
export interface FamilyTokenizer {
  encodeBatch(
    texts: readonly string[],
    opts: { maxLength: number; padding?: boolean },
  ): { ids: number[]; length: number; truncated: boolean; droppedTokens: number }[];
}

/** A model family: a folder under src/families/ and one line in src/families/registry.ts. */
export interface ModelFamily {
  /** short id, e.g. 'fgclip' */
  readonly id: string;
  /** what users read in errors and `doctor` */
  readonly description: string;
  /** config.json `architectures` entries this family loads */
  readonly architectures: readonly string[];
  /** config.json `model_type` values this family loads when `architectures` is absent */
  readonly modelTypes: readonly string[];
  load(ctx: FamilyLoadContext): Promise<FamilyModel>;
  /** the family's tokenizer alone (default: the CLIP tokenizer of the folder) */
  loadTokenizer?(folder: ModelFolder): Promise<FamilyTokenizer>;
}
