/**
 * Training batches: validation of a `TrainBatch` against a model config, and the reference collate's tensor layout
 * (the fields of `fgclip-tiny.loss.json`: slot-padded boxes with `box_nums`, packed hard texts) → `TrainBatch`.
 * Every problem is an FgClipError naming the field and the index; nothing is silently dropped or clamped.
 */
import type { FgClipConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import { HARD_GROUP } from './graph.js';
import type { NormalizedBox, TrainBatch } from './types.js';

const bad = (msg: string): never => {
  throw new FgClipError('INPUT_INVALID', `training batch: ${msg}`);
};

function checkIds(rows: readonly (readonly number[])[], field: string, len: number, cfg: FgClipConfig): void {
  const vocab = cfg.text_config.vocab_size;
  rows.forEach((row, i) => {
    if (!Array.isArray(row)) bad(`${field}[${i}] is not a list of token ids`);
    if (row.length !== len) bad(`${field}[${i}] has ${row.length} ids (expected ${len}, padded)`);
    for (const id of row) if (!Number.isInteger(id) || id < 0 || id >= vocab) bad(`${field}[${i}] holds token id ${JSON.stringify(id)} outside [0, ${vocab})`);
  });
}

function checkBox(b: unknown, where: string): asserts b is NormalizedBox {
  if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v)))
    bad(`${where} is not four finite numbers x1,y1,x2,y2 (got ${JSON.stringify(b)})`);
  const [x1, y1, x2, y2] = b as number[];
  if ([x1, y1, x2, y2].some((v) => v < 0 || v > 1)) bad(`${where} = [${(b as number[]).join(', ')}] is outside [0, 1] (boxes are normalized xyxy)`);
  if (x2 < x1 || y2 < y1) bad(`${where} = [${(b as number[]).join(', ')}] has x2 < x1 or y2 < y1`);
}

/** Throws an INPUT_INVALID FgClipError for any inconsistency of `batch` with the model. */
export function validateBatch(batch: TrainBatch, cfg: FgClipConfig, stage: 1 | 2): void {
  const vc = cfg.vision_config;
  const B = batch.size;
  if (!Number.isInteger(B) || B < 1) bad(`size must be a positive integer (got ${B})`);
  if (batch.imageSize !== vc.image_size) bad(`images are ${batch.imageSize}px, the model takes ${vc.image_size}px`);
  const px = B * vc.num_channels * vc.image_size * vc.image_size;
  if (!(batch.pixels instanceof Float32Array) || batch.pixels.length !== px)
    bad(`pixels: expected ${px} float32 values [${B}, ${vc.num_channels}, ${vc.image_size}, ${vc.image_size}] (got ${batch.pixels?.length})`);
  for (let i = 0; i < batch.pixels.length; i++) if (!Number.isFinite(batch.pixels[i])) bad(`pixels: value ${i} is not finite`);
  if (batch.textLong.length !== B) bad(`text_long has ${batch.textLong.length} rows for ${B} images`);
  if (batch.textShort.length !== B) bad(`text_short has ${batch.textShort.length} rows for ${B} images`);
  checkIds(batch.textLong, 'text_long', cfg.long_max_length, cfg);
  // the 77-row texts of a batch run as one text pass: every row has the table's length (the collate pads to 77)
  const S = cfg.text_config.max_position_embeddings;
  checkIds(batch.textShort, 'text_short', S, cfg);
  if (stage === 1) return;
  const boxes = batch.boxes ?? bad('stage 2 needs boxes (per image, possibly empty lists)');
  const hard = batch.hardBoxes ?? bad('stage 2 needs hardBoxes (per image, possibly empty lists)');
  if (boxes.length !== B) bad(`boxes has ${boxes.length} entries for ${B} images`);
  if (hard.length !== B) bad(`hardBoxes has ${hard.length} entries for ${B} images`);
  boxes.forEach((bs, i) => bs.forEach((b, j) => checkBox(b, `boxes[${i}][${j}]`)));
  hard.forEach((bs, i) => bs.forEach((b, j) => checkBox(b, `hardBoxes[${i}][${j}]`)));
  const K = boxes.reduce((a, b) => a + b.length, 0);
  const V = hard.reduce((a, b) => a + b.length, 0);
  const boxTexts = batch.boxTexts ?? [];
  const hardTexts = batch.hardTexts ?? [];
  if (boxTexts.length !== K) bad(`boxTexts has ${boxTexts.length} rows for ${K} boxes`);
  if (hardTexts.length !== HARD_GROUP * V)
    bad(`hardTexts has ${hardTexts.length} rows for ${V} hard boxes (expected ${HARD_GROUP} per box: the positive and 10 negatives)`);
  checkIds(boxTexts, 'box_texts', S, cfg);
  checkIds(hardTexts, 'hard_texts', S, cfg);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function numberArray(v: unknown, field: string): number[] {
  if (!Array.isArray(v)) bad(`${field} must be a list`);
  return v as number[];
}

function flatten(v: unknown, dims: number[], field: string): number[] {
  const out: number[] = [];
  const walk = (x: unknown, d: number, path: string) => {
    if (d === dims.length) {
      if (typeof x !== 'number' || !Number.isFinite(x)) bad(`${field}${path} is not a finite number`);
      out.push(x as number);
      return;
    }
    if (!Array.isArray(x) || x.length !== dims[d]) bad(`${field}${path} must be a list of ${dims[d]} (got ${Array.isArray(x) ? x.length : typeof x})`);
    (x as unknown[]).forEach((y, i) => walk(y, d + 1, `${path}[${i}]`));
  };
  walk(v, 0, '');
  return out;
}

function idRows(v: unknown, field: string): number[][] {
  if (!Array.isArray(v)) bad(`${field} must be a list of token-id lists`);
  return (v as unknown[]).map((r, i) => {
    if (!Array.isArray(r)) bad(`${field}[${i}] must be a list of token ids`);
    return r as number[];
  });
}

/**
 * The reference collate's fields (as in fgclip-tiny.loss.json) → TrainBatch. Stage 2 when any box field is present.
 * Boxes come as slots [B, S, 4] with `box_nums` valid slots per image; `box_texts` has B·S rows (slot-aligned);
 * hard boxes as [B, Sh, 4] with `hard_nums`, and `hard_texts` packed: 11 rows per valid hard box.
 */
export function batchFromReferenceJson(json: unknown, cfg: FgClipConfig): { batch: TrainBatch; stage: 1 | 2 } {
  if (!isObj(json)) bad('expected a JSON object with image, text_short, text_long (and for stage 2 the box fields)');
  const j = json as Record<string, unknown>;
  const vc = cfg.vision_config;
  const image = j.image;
  if (!Array.isArray(image) || image.length === 0) bad('image must be a non-empty list of [3, S, S] pixel arrays');
  const B = (image as unknown[]).length;
  const S = vc.image_size;
  const pixels = Float32Array.from(flatten(image, [B, vc.num_channels, S, S], 'image'));
  const textLong = idRows(j.text_long, 'text_long');
  const textShort = idRows(j.text_short, 'text_short');
  const stage2Fields = ['box_infos_normalized_xyxy', 'box_texts', 'box_nums', 'hard_infos_normalized_xyxy', 'hard_texts', 'hard_nums'];
  const present = stage2Fields.filter((f) => j[f] !== undefined);
  const base = { size: B, imageSize: S, pixels, textLong, textShort };
  if (present.length === 0) return { batch: base, stage: 1 };
  if (present.length !== stage2Fields.length) bad(`stage-2 fields must come together: missing ${stage2Fields.filter((f) => j[f] === undefined).join(', ')}`);
  const slots = (field: string, numsField: string) => {
    const arr = j[field];
    if (!Array.isArray(arr) || arr.length !== B) bad(`${field} must have one entry per image (${B}; got ${Array.isArray(arr) ? arr.length : typeof arr})`);
    const S0 = Array.isArray((arr as unknown[])[0]) ? (arr as unknown[][])[0].length : bad(`${field}[0] must be a list of boxes`);
    const flat = flatten(arr, [B, S0, 4], field);
    const nums = numberArray(j[numsField], numsField);
    if (nums.length !== B) bad(`${numsField} has ${nums.length} entries for ${B} images`);
    const per: NormalizedBox[][] = [];
    for (let b = 0; b < B; b++) {
      const n = nums[b];
      if (!Number.isInteger(n) || n < 0 || n > S0) bad(`${numsField}[${b}] = ${JSON.stringify(n)} is not an integer in [0, ${S0}]`);
      const list: NormalizedBox[] = [];
      for (let s = 0; s < n; s++) {
        const o = (b * S0 + s) * 4;
        const box = [flat[o], flat[o + 1], flat[o + 2], flat[o + 3]] as const;
        checkBox(box, `${field}[${b}][${s}]`);
        list.push(box);
      }
      per.push(list);
    }
    return { per, S0, nums };
  };
  const bx = slots('box_infos_normalized_xyxy', 'box_nums');
  const hd = slots('hard_infos_normalized_xyxy', 'hard_nums');
  const allBoxTexts = idRows(j.box_texts, 'box_texts');
  if (allBoxTexts.length !== B * bx.S0) bad(`box_texts has ${allBoxTexts.length} rows (expected ${B * bx.S0}: one per box slot)`);
  const boxTexts: number[][] = [];
  for (let b = 0; b < B; b++) for (let s = 0; s < bx.nums[b]; s++) boxTexts.push(allBoxTexts[b * bx.S0 + s]);
  const hardTexts = idRows(j.hard_texts, 'hard_texts');
  return { batch: { ...base, boxes: bx.per, boxTexts, hardBoxes: hd.per, hardTexts }, stage: 2 };
}
