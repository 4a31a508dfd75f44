/**
 * `Encoder`: the one interface tasks, evaluation, the CLI and the server use to reach a model. The library's model
 * handle (`FgClip`, src/model/handle.ts) implements it; so can anything that batches in front of a model (the
 * server's engine). Texts and images in, embeddings out (normalized by default), with the image's dense map and
 * region features on request, the model's text-image scores, and the geometry (resolution, patch grid) callers need.
 */
import type { PixelBox } from './boxes.js';
import type { TextLengths, TextMode } from '../families/types.js';
import type { DecodeOptions, RgbImage } from '../preprocess/index.js';

export type ImageInput = string | Uint8Array | RgbImage;
export type TextModeOption = TextMode | 'auto';

export interface EncodeImageOptions {
  /** L2-normalize outputs (default true); false gives the reference's raw features */
  readonly normalize?: boolean;
  /** also return the dense per-patch features */
  readonly dense?: boolean;
  /** per image, boxes in original-image pixels [x1, y1, x2, y2]: returns one region feature per box */
  readonly boxes?: readonly (readonly PixelBox[])[];
  /** FG-CLIP 2 only: patch budget ('card' = the model card's rule, default; 'processor'; or a fixed number) */
  readonly maxNumPatches?: 'card' | 'processor' | number;
}

export interface ImageEncoding {
  readonly embedding: Float32Array; // [P]
  readonly width: number; // original image size, pixels
  readonly height: number;
  readonly grid: readonly [number, number]; // [h, w] patch grid
  readonly dense?: Float32Array[]; // gridH*gridW vectors, row-major
  readonly regions?: Float32Array[];
}

export interface EncodeTextOptions {
  /** 'auto' (default): short when the caption fits the short path, long otherwise (when the model has one) */
  readonly mode?: TextModeOption;
  readonly normalize?: boolean;
  /**
   * true (default): a caption longer than its mode allows is cut and reported in `truncated`; false: it is an
   * INPUT_INVALID error naming it
   */
  readonly truncate?: boolean;
}

export interface TextEncoding {
  readonly embeddings: Float32Array[];
  readonly modes: TextMode[];
  /** whether each caption was cut to fit its mode's length (e.g. 77 or 248 tokens including bos/eos) */
  readonly truncated: boolean[];
  /** tokens each caption has, bos/eos included, before truncation */
  readonly tokenCounts: number[];
}

/** One decoded and preprocessed image: [3, S, S] pixel values and the original size (for boxes). */
export interface PreprocessedImage {
  readonly pixels: Float32Array;
  readonly width: number;
  readonly height: number;
}

export interface Encoder {
  /** the checkpoint folder (its content identity keys the embedding caches) */
  readonly modelDir: string;
  /** registry id of the model family ('fgclip', …) */
  readonly family: string;
  /** length of every embedding */
  readonly embeddingDim: number;
  /** square input resolution of the vision tower */
  readonly imageSize: number;
  /** side of the (square) patch grid of dense maps */
  readonly gridSize: number;
  /** tokens (bos/eos included) of each text path */
  readonly textLengths: TextLengths;
  /** exp(logit_scale): the temperature the model card multiplies cosines by */
  readonly logitScale: number;
  encodeTexts(texts: readonly string[], opts?: EncodeTextOptions): Promise<TextEncoding>;
  encodeImages(inputs: readonly ImageInput[], opts?: EncodeImageOptions): Promise<ImageEncoding[]>;
  /** already preprocessed images (see `preprocess`) → encodings, as `encodeImages` */
  encodePixels(images: readonly PreprocessedImage[], opts?: EncodeImageOptions): Promise<ImageEncoding[]>;
  /** decodes and preprocesses one image with the model's flow */
  preprocess(input: ImageInput): Promise<PreprocessedImage>;
  /** decodes one image (a path, bytes or an RGB image) with the model's image decoder (port) and decode options */
  decode(input: ImageInput): Promise<RgbImage>;
  decodeOptions(): DecodeOptions;
  /** what `probabilities` computes: softmax over the texts (FG-CLIP v1) or an independent sigmoid per text (FG-CLIP 2) */
  readonly scoreKind?: 'softmax' | 'sigmoid';
  /** the model's probabilities of one image over texts (inputs normalized here) */
  probabilities(image: Float32Array, texts: readonly Float32Array[]): number[];
}
