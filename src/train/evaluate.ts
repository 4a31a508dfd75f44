/**
 * Held-out evaluation of a model on FineHARD-style records, through the project's eval harness (src/eval) and tasks:
 * - image→text and text→image R@1 with the long captions (`evalRetrieval`, long path);
 * - hard-negative accuracy: per hard box, its positive vs its 10 negatives (`evalFgovd`, the FG-OVD protocol);
 * - box classification: per box, its short expression among every distinct short expression of the set;
 * - heatmap localisation: per box, whether the patch most similar to its short expression lies inside the box.
 */
import sharp from 'sharp';
import { evalFgovd, type FgovdItem } from '../eval/fgovd.js';
import { evalRetrieval } from '../eval/retrieval.js';
import type { Encoder } from '../model/encoder.js';
import { dot } from '../postprocess/similarity.js';
import type { RecordBox, TrainRecord } from './data/records.js';

export interface HeldOutMetrics {
  readonly images: number;
  readonly imageToTextR1: number;
  readonly textToImageR1: number;
  /** undefined when the records have no boxes */
  readonly hardNegativeAccuracy?: number;
  readonly hardBoxes?: number;
  readonly boxAccuracy?: number;
  readonly boxes?: number;
  readonly heatmapHit?: number;
}

async function sizeOf(path: string): Promise<[number, number]> {
  const m = await sharp(path).metadata();
  return [m.width ?? 0, m.height ?? 0];
}

export interface EvaluateOptions {
  /** stop the box and heatmap checks after this many boxes */
  readonly maxBoxes?: number;
  /** the heatmap query of a box (default: its short expression) */
  readonly heatmapQuery?: (b: RecordBox) => string;
}

export async function evaluateHeldOut(model: Encoder, records: readonly TrainRecord[], opts: EvaluateOptions = {}): Promise<HeldOutMetrics> {
  const pairs = records.map((r) => ({ image: r.image, caption: r.caption }));
  const ret = await evalRetrieval(model, pairs, '', { mode: 'long' });
  const base = { images: ret.images, imageToTextR1: ret.imageToText[1], textToImageR1: ret.textToImage[1] };
  if (!records.every((r) => r.boxes)) return base;

  const sizes = await Promise.all(records.map((r) => sizeOf(r.image)));
  const items: FgovdItem[] = [];
  records.forEach((r, i) => {
    const [W, H] = sizes[i];
    for (const b of r.boxes ?? []) {
      if (!b.hardTexts) continue;
      const [x1, y1, x2, y2] = b.box;
      items.push({ line: items.length + 1, imgPath: r.image, bbox: [x1 * W, y1 * H, (x2 - x1) * W, (y2 - y1) * H], texts: b.hardTexts });
    }
  });
  const hard = items.length > 0 ? await evalFgovd(model, items, '') : undefined;

  // box classification and heatmap localisation, one vision pass per image
  const labels = [...new Set(records.flatMap((r) => (r.boxes ?? []).map((b) => b.shortExpr)))];
  const labelEmb = (await model.encodeTexts(labels, { mode: 'short' })).embeddings;
  const query = opts.heatmapQuery ?? ((b: RecordBox) => b.shortExpr);
  const queries = [...new Set(records.flatMap((r) => (r.boxes ?? []).map(query)))];
  const queryEmb = new Map((await model.encodeTexts(queries, { mode: 'short' })).embeddings.map((e, i) => [queries[i], e]));
  let boxes = 0;
  let correct = 0;
  let hits = 0;
  const limit = opts.maxBoxes ?? Infinity;
  for (let i = 0; i < records.length && boxes < limit; i++) {
    const r = records[i];
    const [W, H] = sizes[i];
    const list = r.boxes ?? [];
    if (list.length === 0) continue;
    const [enc] = await model.encodeImages([r.image], {
      dense: true,
      boxes: [list.map((b) => [b.box[0] * W, b.box[1] * H, b.box[2] * W, b.box[3] * H] as const)],
    });
    const [gh, gw] = enc.grid;
    list.forEach((b, k) => {
      const region = enc.regions![k];
      const want = labels.indexOf(b.shortExpr);
      let best = 0;
      for (let j = 1; j < labels.length; j++) if (dot(region, labelEmb[j]) > dot(region, labelEmb[best])) best = j;
      if (best === want) correct++;
      // peak patch of the expression's similarity map
      const t = queryEmb.get(query(b))!;
      let peak = 0;
      enc.dense!.forEach((d, p) => {
        if (dot(d, t) > dot(enc.dense![peak], t)) peak = p;
      });
      const cx = ((peak % gw) + 0.5) / gw;
      const cy = (Math.floor(peak / gw) + 0.5) / gh;
      if (cx >= b.box[0] && cx <= b.box[2] && cy >= b.box[1] && cy <= b.box[3]) hits++;
      boxes++;
    });
  }
  return {
    ...base,
    hardNegativeAccuracy: hard?.accuracy,
    hardBoxes: hard?.items,
    boxAccuracy: boxes ? correct / boxes : undefined,
    boxes,
    heatmapHit: boxes ? hits / boxes : undefined,
  };
}
