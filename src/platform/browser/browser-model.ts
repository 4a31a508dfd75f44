/** What the model worker runs, whatever the family: the interface and the page-image decoding both models share. */
import type * as OrtTypes from 'onnxruntime-web';
import { FgClipError } from '../../errors.js';
import type { ImageDecoder } from '../ports.js';
import type { RgbImage } from '../../preprocess/types.js';
import { imageDataToRgb } from './decode.js';
import type { ModelInfo, WireImage, WireImageResult, WireTextResult } from './protocol.js';

export type Ort = typeof OrtTypes;

/** What the worker (worker.ts) runs: FG-CLIP v1's own assembly (WorkerModel) or any family (family-model.ts). */
export interface BrowserModel {
  readonly info: ModelInfo;
  /**
   * the model reads its source's files after loading (FG-CLIP 2's token table: rows of model.safetensors on demand),
   * so the worker keeps the source (and its temporary files) until dispose
   */
  readonly readsSourceLater?: boolean;
  encodeTexts(texts: readonly string[], mode: 'auto' | 'short' | 'long' | 'box', normalize: boolean): Promise<WireTextResult>;
  encodeImages(
    images: readonly WireImage[],
    normalize: boolean,
    dense: boolean,
    boxes?: readonly (readonly (readonly [number, number, number, number])[])[],
  ): Promise<WireImageResult[]>;
  dispose(): Promise<void>;
}

/** The checks both worker model paths make on an encodeImages request before decoding anything. */
export function checkImageRequest(images: readonly WireImage[], boxes: readonly unknown[] | undefined): void {
  if (images.length === 0) throw new FgClipError('INPUT_INVALID', 'encodeImages: the list of images is empty');
  if (boxes && boxes.length !== images.length) throw new FgClipError('INPUT_INVALID', `encodeImages: ${boxes.length} box lists for ${images.length} images`);
}

/** An image from the page → RGB, through the image decoding port (as the Node handle decodes). */
export async function decodeWire(img: WireImage, decoder: ImageDecoder, maxPixels: number | undefined): Promise<RgbImage> {
  if (img.kind === 'blob') return decoder.decode(new Uint8Array(await img.blob.arrayBuffer()), { maxPixels });
  if (img.kind === 'rgba') return imageDataToRgb({ width: img.width, height: img.height, data: new Uint8ClampedArray(img.data) });
  return decoder.decode(new Uint8Array(img.bytes), { maxPixels });
}
