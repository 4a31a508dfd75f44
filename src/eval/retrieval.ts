/**
 * Image↔text retrieval recall (docs/model-spec.md §6.3-6.4, coco_retrieval.py / shareg4v_retrieval.py): cosine of normalized
 * features; image→text R@k counts an image as found when any of its captions ranks in the top k (COCO's 5 captions
 * per image); text→image R@k when the caption's image does. Ranks break ties by list order (metrics.ts).
 *
 * Pairs files: JSON — a list of {image, caption} (an image may repeat, once per caption) or of
 * {image, captions: [...]} — or CSV with a header naming `image` and `caption` columns (RFC 4180 quoting).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseJson } from '../config/fields.js';
import { FgClipError } from '../errors.js';
import type { Encoder, TextModeOption } from '../model/encoder.js';
import { dot } from '../postprocess/similarity.js';
import { parseCsv } from './csv.js';
import { decodeEntry, imagePath } from './dataset.js';
import { bestRank, recallAtK } from './metrics.js';

export interface RetrievalPair {
  readonly image: string;
  readonly caption: string;
}

export const RECALL_KS = [1, 5, 10] as const;
export type Recall = Record<(typeof RECALL_KS)[number], number>;

export interface RetrievalOptions {
  /** caption path: 'auto' (default) picks long for captions over 77 tokens; 'short'/'long' force one */
  readonly mode?: TextModeOption;
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface RetrievalResult {
  readonly task: 'retrieval';
  readonly images: number;
  readonly texts: number;
  readonly imageToText: Recall;
  readonly textToImage: Recall;
  /** captions cut to fit their path (77 or 248 tokens) */
  readonly truncated: number;
}

const PAIRS_FORMAT = 'A pairs file is JSON [{"image": …, "caption": …}] (or "captions": [...]) or CSV with image,caption columns';
const pairsError = (source: string, what: string) => new FgClipError('INPUT_INVALID', `${source}: ${what}. ${PAIRS_FORMAT}`);

export function parsePairsJson(text: string, source = 'pairs'): RetrievalPair[] {
  const j = parseJson(text, source, 'INPUT_INVALID', PAIRS_FORMAT);
  if (!Array.isArray(j)) throw pairsError(source, 'expected a JSON list');
  const out: RetrievalPair[] = [];
  j.forEach((e, i) => {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    const caps = typeof o.caption === 'string' ? [o.caption] : o.captions;
    if (typeof o.image !== 'string' || o.image === '') throw pairsError(source, `entry ${i + 1} has no image path (got ${JSON.stringify(e)})`);
    if (!Array.isArray(caps) || caps.length === 0 || !caps.every((c) => typeof c === 'string' && c.trim() !== '')) {
      throw pairsError(source, `entry ${i + 1} needs a non-empty "caption" or "captions" list (got ${JSON.stringify(e)})`);
    }
    for (const c of caps as string[]) out.push({ image: o.image, caption: c });
  });
  return out;
}

export function parsePairsCsv(text: string, source = 'pairs'): RetrievalPair[] {
  const rows = parseCsv(text, source);
  if (rows.length === 0) throw pairsError(source, 'empty file');
  const header = rows[0].map((h) => h.trim().toLowerCase());
  const ic = header.indexOf('image');
  const cc = header.indexOf('caption');
  if (ic < 0 || cc < 0) throw pairsError(source, `the header must name image and caption columns (got ${JSON.stringify(rows[0])})`);
  return rows.slice(1).flatMap((r, i) => {
    if (r.length === 1 && r[0].trim() === '') return [];
    if (!r[ic] || !r[cc] || r[cc].trim() === '') throw pairsError(source, `row ${i + 2} needs an image and a caption (got ${JSON.stringify(r)})`);
    return [{ image: r[ic], caption: r[cc] }];
  });
}

export function readPairs(path: string): RetrievalPair[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `--pairs ${path}: cannot read the file (${(e as Error).message})`, { cause: e });
  }
  const ext = extname(path).toLowerCase();
  const pairs = ext === '.csv' ? parsePairsCsv(text, path) : ext === '.json' ? parsePairsJson(text, path) : undefined;
  if (!pairs) throw pairsError(path, `unknown extension ${JSON.stringify(ext)} (expected .json or .csv)`);
  if (pairs.length === 0) throw pairsError(path, 'no pairs');
  return pairs;
}

/** Groups pairs into unique images (first-seen order) and captions with the index of their image. */
export function groupPairs(pairs: readonly RetrievalPair[]): { images: string[]; captions: string[]; owner: number[] } {
  const images: string[] = [];
  const at = new Map<string, number>();
  const captions: string[] = [];
  const owner: number[] = [];
  for (const p of pairs) {
    let i = at.get(p.image);
    if (i === undefined) {
      i = images.length;
      images.push(p.image);
      at.set(p.image, i);
    }
    captions.push(p.caption);
    owner.push(i);
  }
  return { images, captions, owner };
}

/**
 * Recall@1/5/10 both ways from normalized embeddings. One pass over the image rows with O(texts) memory (COCO 5k is
 * a 5,000 × 25,000 matrix): each text's own score is computed first, then every row adds to the count of texts it
 * beats, which gives the same ranks as `rankOf` over each column.
 */
export function retrievalRecall(
  imageEmb: readonly Float32Array[],
  textEmb: readonly Float32Array[],
  owner: readonly number[],
): { imageToText: Recall; textToImage: Recall } {
  const T = textEmb.length;
  const own = Float64Array.from(textEmb, (t, j) => dot(imageEmb[owner[j]], t)); // [T] score of each caption's image
  const above = new Int32Array(T); // images ranked before each caption's own image
  const captionsOf = imageEmb.map(() => [] as number[]);
  owner.forEach((o, t) => captionsOf[o].push(t));
  const row = new Float64Array(T);
  const i2t = imageEmb.map((im, i) => {
    for (let t = 0; t < T; t++) {
      const v = (row[t] = dot(im, textEmb[t]));
      if (v > own[t] || (v === own[t] && i < owner[t])) above[t]++;
    }
    return bestRank(row, captionsOf[i]);
  });
  return { imageToText: recallAtK(i2t, RECALL_KS), textToImage: recallAtK(Array.from(above), RECALL_KS) };
}

export async function evalRetrieval(model: Encoder, pairs: readonly RetrievalPair[], imagesDir: string, opts: RetrievalOptions = {}): Promise<RetrievalResult> {
  if (pairs.length === 0) throw new FgClipError('INPUT_INVALID', 'retrieval: no pairs');
  const { images, captions, owner } = groupPairs(pairs);
  const bs = opts.batchSize ?? 8;
  const total = images.length + captions.length;
  const imageEmb: Float32Array[] = [];
  for (let s = 0; s < images.length; s += bs) {
    const part = images.slice(s, s + bs);
    const decoded = await Promise.all(part.map((p) => decodeEntry(model, imagePath(imagesDir, p), `image ${JSON.stringify(p)}`)));
    imageEmb.push(...(await model.encodeImages(decoded)).map((e) => e.embedding));
    opts.onProgress?.(imageEmb.length, total);
  }
  const textEmb: Float32Array[] = [];
  let truncated = 0;
  const tb = 256;
  for (let s = 0; s < captions.length; s += tb) {
    const t = await model.encodeTexts(captions.slice(s, s + tb), { mode: opts.mode ?? 'auto' });
    textEmb.push(...t.embeddings);
    truncated += t.truncated.filter(Boolean).length;
    opts.onProgress?.(images.length + textEmb.length, total);
  }
  return { task: 'retrieval', images: images.length, texts: captions.length, ...retrievalRecall(imageEmb, textEmb, owner), truncated };
}
