/** Dataset plumbing shared by the evaluations: image paths, decoding and box checks that name the dataset entry. */
import { isAbsolute, join } from 'node:path';
import { FgClipError } from '../errors.js';
import { validatePixelBox, type PixelBox } from '../model/boxes.js';
import type { Encoder } from '../model/encoder.js';
import type { RgbImage } from '../preprocess/index.js';

/** Joins a dataset's relative image path to the images folder (absolute paths are kept). */
export function imagePath(dir: string, p: string): string {
  return isAbsolute(p) ? p : join(dir, p);
}

/** Decodes one dataset image; a failure names the dataset entry. */
export async function decodeEntry(model: Encoder, path: string, where: string): Promise<RgbImage> {
  try {
    return await model.decode(path);
  } catch (e) {
    const code = e instanceof FgClipError ? e.code : 'IMAGE_DECODE';
    throw new FgClipError(code, `${where}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Re-throws a box error with the dataset entry that caused it. */
function withEntry(e: unknown, where: string): never {
  if (e instanceof FgClipError) throw new FgClipError(e.code, `${where}: ${e.message}`, { cause: e });
  throw e;
}

/** Validates a pixel box against its image, naming the dataset entry on failure. */
export function checkBox(box: PixelBox, img: RgbImage, where: string): void {
  try {
    validatePixelBox(box, img.width, img.height, 'box');
  } catch (e) {
    withEntry(e, where);
  }
}
