/**
 * Box classification on COCO-format annotations (docs/model-spec.md §6.6, in_1K/coco_box_cls.py): every annotation box (crowd
 * boxes included) is classified by its RoI feature against the class embeddings (template ensemble of the category
 * names), p = softmax(100 · cos); top-1 / top-5 accuracy over all boxes. Classes are the categories in ascending id
 * order; boxes are COCO [x, y, w, h] pixels of the original image.
 */
import { readFileSync } from 'node:fs';
import { parseJson } from '../config/fields.js';
import { FgClipError } from '../errors.js';
import type { PixelBox } from '../model/boxes.js';
import type { Encoder } from '../model/encoder.js';
import { dot } from '../postprocess/similarity.js';
import { labelEmbeddings } from '../tasks/classify.js';
import { resolveTemplates } from '../tasks/templates.js';
import { checkBox, decodeEntry, imagePath } from './dataset.js';
import { rankOf, recallAtK } from './metrics.js';
import type { AccuracyResult, ClassifierEvalOptions } from './zeroshot.js';

export interface CocoBox {
  readonly id: number;
  readonly box: PixelBox; // x1, y1, x2, y2
  readonly label: number; // index into classes
}

export interface CocoImage {
  readonly id: number;
  readonly file: string;
  readonly boxes: CocoBox[];
}

export interface CocoDataset {
  readonly classes: string[];
  readonly images: CocoImage[];
  readonly boxes: number;
}

export interface BoxesResult extends AccuracyResult {
  readonly task: 'boxes';
  readonly images: number;
}

const COCO_FORMAT =
  'Expected COCO instances JSON: {"images": [{id, file_name}], "annotations": [{id, image_id, bbox: [x, y, w, h], category_id}], "categories": [{id, name}]}';
const cocoError = (source: string, what: string) => new FgClipError('INPUT_INVALID', `${source}: ${what}. ${COCO_FORMAT}`);

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

export function parseCoco(text: string, source = 'annotations'): CocoDataset {
  const j = parseJson(text, source, 'INPUT_INVALID', COCO_FORMAT);
  if (!isObj(j) || !Array.isArray(j.images) || !Array.isArray(j.annotations) || !Array.isArray(j.categories))
    throw cocoError(source, 'missing images, annotations or categories lists');
  const cats = j.categories.map((c, i) => {
    if (!isObj(c) || !isNum(c.id) || typeof c.name !== 'string' || c.name.trim() === '')
      throw cocoError(source, `categories[${i}] needs a numeric id and a name (got ${JSON.stringify(c)})`);
    return { id: c.id, name: c.name };
  });
  if (cats.length === 0) throw cocoError(source, 'no categories');
  cats.sort((a, b) => a.id - b.id);
  const catIndex = new Map(cats.map((c, i) => [c.id, i]));
  if (catIndex.size !== cats.length) throw cocoError(source, 'repeated category ids');
  const images = new Map<number, CocoImage>();
  j.images.forEach((im, i) => {
    if (!isObj(im) || !isNum(im.id) || typeof im.file_name !== 'string' || im.file_name === '')
      throw cocoError(source, `images[${i}] needs a numeric id and a file_name (got ${JSON.stringify(im)})`);
    if (images.has(im.id)) throw cocoError(source, `images[${i}] repeats image id ${im.id}`);
    images.set(im.id, { id: im.id, file: im.file_name, boxes: [] });
  });
  let n = 0;
  j.annotations.forEach((a, i) => {
    const where = `annotations[${i}]${isObj(a) && isNum(a.id) ? ` (id ${a.id})` : ''}`;
    if (!isObj(a)) throw cocoError(source, `${where} is not an object`);
    const im = isNum(a.image_id) ? images.get(a.image_id) : undefined;
    if (!im) throw cocoError(source, `${where} refers to image_id ${JSON.stringify(a.image_id)}, which is not in images`);
    const label = isNum(a.category_id) ? catIndex.get(a.category_id) : undefined;
    if (label === undefined) throw cocoError(source, `${where} refers to category_id ${JSON.stringify(a.category_id)}, which is not in categories`);
    const b = a.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !b.every(isNum) || b[2] < 0 || b[3] < 0)
      throw cocoError(source, `${where} bbox must be [x, y, w, h] with w, h ≥ 0 (got ${JSON.stringify(b)})`);
    im.boxes.push({ id: isNum(a.id) ? a.id : i, box: [b[0], b[1], b[0] + b[2], b[1] + b[3]], label });
    n++;
  });
  if (n === 0) throw cocoError(source, 'no annotations');
  return { classes: cats.map((c) => c.name), images: [...images.values()].filter((im) => im.boxes.length > 0), boxes: n };
}

export function readCoco(path: string): CocoDataset {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `--annotations ${path}: cannot read the file (${(e as Error).message})`, { cause: e });
  }
  return parseCoco(text, path);
}

export async function evalBoxes(model: Encoder, data: CocoDataset, imagesDir: string, opts: ClassifierEvalOptions = {}): Promise<BoxesResult> {
  const templates = opts.templates ?? 'imagenet';
  // FG-CLIP 2's box tasks encode class prompts through the box head (walk_type="box"); v1 through the short path
  const mode = model.textLengths.box !== undefined ? 'box' : 'short';
  const W = await labelEmbeddings(model, data.classes, {
    templates,
    cache: opts.cache,
    onWarning: opts.onWarning,
    onLabelProgress: opts.onLabelProgress,
    mode,
  });
  const bs = opts.batchSize ?? 8;
  const ranks: number[] = [];
  for (let s = 0; s < data.images.length; s += bs) {
    const part = data.images.slice(s, s + bs);
    const imgs = await Promise.all(part.map((im) => decodeEntry(model, imagePath(imagesDir, im.file), `image id ${im.id} (${im.file})`)));
    part.forEach((im, g) => im.boxes.forEach((b) => checkBox(b.box, imgs[g], `annotation id ${b.id} (image ${im.file})`)));
    const enc = await model.encodeImages(imgs, { boxes: part.map((im) => im.boxes.map((b) => b.box)) });
    // softmax(100·cos) is monotone in cos: ranks come from the cosines directly
    part.forEach((im, g) =>
      im.boxes.forEach((b, k) =>
        ranks.push(
          rankOf(
            W.map((w) => dot((enc[g].regions ?? [])[k], w)),
            b.label,
          ),
        ),
      ),
    );
    opts.onProgress?.(ranks.length, data.boxes);
  }
  const acc = recallAtK(ranks, [1, 5] as const);
  return {
    task: 'boxes',
    classes: data.classes.length,
    images: data.images.length,
    total: ranks.length,
    top1: acc[1],
    top5: acc[5],
    templates: resolveTemplates(templates).length,
  };
}
