/**
 * FG-OVD fine-grained understanding (docs/model-spec.md §6.2, fgclip/eval/fgovd_eval.py:56-126): per item, the RoI feature of the
 * box and the texts [positive] + negatives (short path, normalized); p = softmax(100 · cos); the item is correct iff
 * p[0] equals max(p) (ties count as correct, `torch.equal`). Accuracy = correct / items.
 *
 * The jsonl has one item per line: `img_path` (joined to the images folder), `bbox` [x, y, w, h] in COCO pixels,
 * `pos_expression` (a string, or a list whose first entry is the positive, as the reference concatenates it),
 * `neg_expression` (a list). Items sharing an image are encoded in one vision pass.
 *
 * The script's RoI feature is not L2-normalized (docs/model-spec.md §10: GitHub HEAD), ours is (as tasks/regions.ts): scaling the
 * region vector by a positive number changes p but not which text has the largest p, so correctness and accuracy
 * are the same; only the reported probabilities are the normalized ones.
 */
import { readFileSync } from 'node:fs';
import { FgClipError } from '../errors.js';
import type { PixelBox } from '../model/boxes.js';
import type { Encoder } from '../model/encoder.js';
import type { TextMode } from '../families/fgclip/text-inputs.js';
import { dot, softmax } from '../postprocess/similarity.js';
import { FGOVD_SCALE } from '../tasks/regions.js';
import { checkBox, decodeEntry, imagePath } from './dataset.js';

export interface FgovdItem {
  /** 1-based line in the jsonl */
  readonly line: number;
  readonly imgPath: string;
  /** [x, y, w, h], pixels */
  readonly bbox: readonly [number, number, number, number];
  /** texts[0] is the positive, the rest are negatives */
  readonly texts: readonly string[];
}

export interface FgovdOptions {
  /** text path (default 'short', the reference's max_length 77; 'long' = max_length 248) */
  readonly mode?: TextMode;
  /** images per vision call (default 8) */
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface FgovdItemResult {
  readonly line: number;
  readonly correct: boolean;
  /** probability of the positive, and the best negative's */
  readonly positive: number;
  readonly bestNegative: number;
}

export interface FgovdResult {
  readonly task: 'fgovd';
  readonly items: number;
  readonly images: number;
  readonly correct: number;
  readonly accuracy: number;
  readonly perItem: FgovdItemResult[];
}

const lineError = (source: string, line: number, what: string) =>
  new FgClipError(
    'INPUT_INVALID',
    `${source}:${line}: ${what}. Each line is {"img_path": …, "bbox": [x, y, w, h], "pos_expression": …, "neg_expression": [...]}`,
  );

function isStr(x: unknown): x is string {
  return typeof x === 'string' && x.trim() !== '';
}

/** Parses FG-OVD jsonl text; every problem names its line. Blank lines are skipped. */
export function parseFgovdJsonl(text: string, source = 'fgovd'): FgovdItem[] {
  const items: FgovdItem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let j: unknown;
    try {
      j = JSON.parse(raw);
    } catch (e) {
      throw lineError(source, line, `not valid JSON (${(e as Error).message})`);
    }
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw lineError(source, line, 'expected a JSON object');
    const o = j as Record<string, unknown>;
    if (!isStr(o.img_path)) throw lineError(source, line, `img_path must be a non-empty string (got ${JSON.stringify(o.img_path)})`);
    const b = o.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v)) || b[2] < 0 || b[3] < 0) {
      throw lineError(source, line, `bbox must be [x, y, w, h] with w, h ≥ 0 (got ${JSON.stringify(b)})`);
    }
    const pos = typeof o.pos_expression === 'string' ? [o.pos_expression] : o.pos_expression;
    if (!Array.isArray(pos) || pos.length === 0 || !pos.every(isStr))
      throw lineError(source, line, `pos_expression must be a non-empty string or list of strings (got ${JSON.stringify(o.pos_expression)})`);
    const neg = o.neg_expression;
    if (!Array.isArray(neg) || neg.length === 0 || !neg.every(isStr))
      throw lineError(source, line, `neg_expression must be a non-empty list of strings (got ${JSON.stringify(neg)})`);
    items.push({ line, imgPath: o.img_path, bbox: b as unknown as [number, number, number, number], texts: [...(pos as string[]), ...(neg as string[])] });
  });
  if (items.length === 0) throw new FgClipError('INPUT_INVALID', `${source}: no items (expected one JSON object per line)`);
  return items;
}

export function readFgovd(path: string): FgovdItem[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `--data ${path}: cannot read the file (${(e as Error).message})`, { cause: e });
  }
  return parseFgovdJsonl(text, path);
}

export async function evalFgovd(model: Encoder, items: readonly FgovdItem[], imagesDir: string, opts: FgovdOptions = {}): Promise<FgovdResult> {
  if (items.length === 0) throw new FgClipError('INPUT_INVALID', 'fgovd: no items');
  // FG-CLIP 2 evaluates FG-OVD through its box head (walk_type="box"); v1 through the short path
  const mode = opts.mode ?? (model.textLengths.box !== undefined ? 'box' : 'short');
  const bs = opts.batchSize ?? 8;
  const byImage = new Map<string, FgovdItem[]>();
  for (const it of items) {
    const list = byImage.get(it.imgPath);
    if (list) list.push(it);
    else byImage.set(it.imgPath, [it]);
  }
  const groups = [...byImage.entries()];
  const textCache = new Map<string, Float32Array>();
  const perItem = new Map<FgovdItem, FgovdItemResult>();
  let done = 0;
  for (let s = 0; s < groups.length; s += bs) {
    const part = groups.slice(s, s + bs);
    const imgs = await Promise.all(part.map(([p, its]) => decodeEntry(model, imagePath(imagesDir, p), `line ${its[0].line}`)));
    const boxes = part.map(([, its]) => its.map((it): PixelBox => [it.bbox[0], it.bbox[1], it.bbox[0] + it.bbox[2], it.bbox[1] + it.bbox[3]]));
    part.forEach(([, its], g) => its.forEach((it, k) => checkBox(boxes[g][k], imgs[g], `line ${it.line}`)));
    const enc = await model.encodeImages(imgs, { boxes });
    const fresh = [...new Set(part.flatMap(([, its]) => its.flatMap((it) => it.texts)).filter((t) => !textCache.has(t)))];
    if (fresh.length > 0) {
      const t = await model.encodeTexts(fresh, { mode });
      fresh.forEach((x, i) => textCache.set(x, t.embeddings[i]));
    }
    part.forEach(([, its], g) =>
      its.forEach((it, k) => {
        const region = (enc[g].regions ?? [])[k];
        const p = softmax(it.texts.map((t) => FGOVD_SCALE * dot(region, textCache.get(t) as Float32Array)));
        const best = Math.max(...p);
        perItem.set(it, { line: it.line, correct: p[0] === best, positive: p[0], bestNegative: Math.max(...p.slice(1)) });
      }),
    );
    done += part.reduce((n, [, its]) => n + its.length, 0);
    opts.onProgress?.(done, items.length);
  }
  const ordered = items.map((it) => perItem.get(it) as FgovdItemResult);
  const correct = ordered.filter((r) => r.correct).length;
  return { task: 'fgovd', items: items.length, images: groups.length, correct, accuracy: correct / items.length, perItem: ordered };
}
