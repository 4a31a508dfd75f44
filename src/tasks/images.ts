/**
 * Image plumbing shared by the batch tasks: decode one image at a time so a bad file is skipped (with a reason)
 * instead of failing its whole batch, and list the images of a folder tree.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { FgClipError, type FgClipErrorCode } from '../errors.js';
import type { Encoder, ImageInput } from '../model/encoder.js';
import type { RgbImage } from '../preprocess/index.js';

/** Extensions `listImages` picks up (the formats decodeImage supports), compared lower-case. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tiff', '.tif', '.avif'];

export interface SkippedImage {
  /** the path, or `<input N>` for bytes / decoded images */
  readonly image: string;
  readonly index: number;
  readonly code: FgClipErrorCode | 'UNKNOWN';
  readonly message: string;
}

export function describeInput(input: ImageInput, index: number): string {
  return typeof input === 'string' ? input : `<input ${index}>`;
}

function isRgbImage(x: ImageInput): x is RgbImage {
  return typeof x === 'object' && !(x instanceof Uint8Array) && 'data' in x && 'width' in x && 'height' in x;
}

/** Decodes as the model would (its decode options); a failure becomes a SkippedImage instead of a throw. */
export async function decodeOrSkip(model: Encoder, input: ImageInput, index: number): Promise<RgbImage | SkippedImage> {
  if (isRgbImage(input)) return input;
  try {
    return await model.decode(input);
  } catch (e) {
    return skipped(describeInput(input, index), index, e);
  }
}

export function skipped(image: string, index: number, e: unknown): SkippedImage {
  return { image, index, code: e instanceof FgClipError ? e.code : 'UNKNOWN', message: e instanceof Error ? e.message : String(e) };
}

export function isSkipped(x: RgbImage | SkippedImage): x is SkippedImage {
  return 'message' in x && 'code' in x;
}

/**
 * Image files under `dir`, recursively, in sorted (code unit) order of their relative paths. Hidden entries
 * (starting with ".") are left out, and symbolic links to folders are not followed (no cycles); links to files are
 * listed. Returned paths are `join(dir, relative)`.
 */
export async function listImages(dir: string, extensions: readonly string[] = IMAGE_EXTENSIONS): Promise<string[]> {
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `images folder ${dir}: cannot read it (${(e as Error).message}). Give an existing folder.`, { cause: e });
  }
  if (!st.isDirectory()) throw new FgClipError('INPUT_INVALID', `images folder ${dir}: is not a folder. Give the folder that holds the images.`);
  const exts = new Set(extensions.map((e) => e.toLowerCase()));
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? join(rel, e.name) : e.name;
      if (e.isDirectory()) await walk(r);
      else if (exts.has(extname(e.name).toLowerCase())) {
        if (e.isFile()) out.push(join(dir, r));
        else if (e.isSymbolicLink()) {
          const t = await stat(join(dir, r)).catch(() => undefined);
          if (t?.isFile()) out.push(join(dir, r));
        }
      }
    }
  };
  await walk('');
  return out;
}
