/**
 * Zero-shot classification accuracy over an ImageFolder (docs/model-spec.md §6.5, in_1K/eval_in1k.py): class c is the c-th
 * subfolder in sorted order (torchvision ImageFolder), its name the c-th line of the class-names file; class
 * embeddings are the template ensemble (tasks/classify.ts `labelEmbeddings`); logits = exp(logit_scale) · cos;
 * top-1 / top-5 accuracy over every image. Unlike the script we score all images (no `drop_last`) and report one
 * accuracy over images instead of a mean of per-batch accuracies; the two agree when every batch is full.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import type { Encoder } from '../model/encoder.js';
import { dot } from '../postprocess/similarity.js';
import type { CacheSetting } from '../cache/vector-store.js';
import { labelEmbeddings } from '../tasks/classify.js';
import { IMAGE_EXTENSIONS, listImages } from '../tasks/images.js';
import { resolveTemplates, type TemplateSpec } from '../tasks/templates.js';
import { decodeEntry } from './dataset.js';
import { rankOf, recallAtK } from './metrics.js';

export interface ImageFolderSample {
  readonly path: string;
  readonly label: number;
}

export interface ImageFolder {
  /** subfolder names, sorted */
  readonly folders: string[];
  readonly samples: ImageFolderSample[];
}

export interface ClassifierEvalOptions {
  /** default 'imagenet' (the reference's 80 templates) */
  readonly templates?: TemplateSpec;
  readonly cache?: CacheSetting;
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
  readonly onWarning?: (message: string) => void;
  readonly onLabelProgress?: (done: number, total: number) => void;
}

export interface AccuracyResult {
  readonly classes: number;
  readonly total: number;
  readonly top1: number;
  readonly top5: number;
  /** templates per class */
  readonly templates: number;
}

export interface ZeroshotResult extends AccuracyResult {
  readonly task: 'zeroshot';
}

/** torchvision ImageFolder: one subfolder per class (sorted), images found recursively in each. */
export async function readImageFolder(dir: string): Promise<ImageFolder> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `--imagefolder ${dir}: cannot read it (${(e as Error).message})`, { cause: e });
  }
  const folders = names.filter((n) => !n.startsWith('.') && statSync(join(dir, n)).isDirectory()).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (folders.length === 0) throw new FgClipError('INPUT_INVALID', `--imagefolder ${dir}: no class subfolders (expected one folder of images per class)`);
  const samples: ImageFolderSample[] = [];
  for (const [label, f] of folders.entries()) {
    const files = await listImages(join(dir, f));
    if (files.length === 0)
      throw new FgClipError(
        'INPUT_INVALID',
        `--imagefolder ${dir}: class folder ${JSON.stringify(f)} has no images (extensions ${IMAGE_EXTENSIONS.join(' ')})`,
      );
    for (const path of files) samples.push({ path, label });
  }
  return { folders, samples };
}

/** Class names, one per line (blank lines and # comments skipped). */
export function readClassnames(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `--classnames ${path}: cannot read the file (${(e as Error).message})`, { cause: e });
  }
  const names = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (names.length === 0)
    throw new FgClipError('INPUT_INVALID', `--classnames ${path}: no class names (expected one per line, in the sorted order of the class folders)`);
  return names;
}

export async function evalZeroshot(
  model: Encoder,
  folder: ImageFolder,
  classnames: readonly string[],
  opts: ClassifierEvalOptions = {},
): Promise<ZeroshotResult> {
  if (classnames.length !== folder.folders.length) {
    throw new FgClipError(
      'INPUT_INVALID',
      `zeroshot: ${classnames.length} class names for ${folder.folders.length} class folders (expected one name per folder, in sorted folder order: ${folder.folders.slice(0, 5).join(', ')}${folder.folders.length > 5 ? ', …' : ''})`,
    );
  }
  const templates = opts.templates ?? 'imagenet';
  const W = await labelEmbeddings(model, classnames, { templates, cache: opts.cache, onWarning: opts.onWarning, onLabelProgress: opts.onLabelProgress });
  const bs = opts.batchSize ?? 16;
  const ranks: number[] = [];
  for (let s = 0; s < folder.samples.length; s += bs) {
    const part = folder.samples.slice(s, s + bs);
    const imgs = await Promise.all(part.map((x) => decodeEntry(model, x.path, x.path)));
    // FG-CLIP 2's ImageNet convention: a fixed budget of 1024 patches (ignored by fixed-resolution families)
    const enc = await model.encodeImages(imgs, { maxNumPatches: 1024 });
    enc.forEach((e, k) =>
      ranks.push(
        rankOf(
          W.map((w) => dot(e.embedding, w)),
          part[k].label,
        ),
      ),
    );
    opts.onProgress?.(ranks.length, folder.samples.length);
  }
  const acc = recallAtK(ranks, [1, 5] as const);
  return { task: 'zeroshot', classes: classnames.length, total: ranks.length, top1: acc[1], top5: acc[5], templates: resolveTemplates(templates).length };
}
