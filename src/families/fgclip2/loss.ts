/**
 * The FG-CLIP 2 stage-2 training objective (FG_CLIP2_Model.forward with add_box_loss and use_hard_neg, fgclip2.py
 * 281-693; fgclip-spec §7.4), forward only, on one process (world size 1):
 *   loss = sig_long + sig_short + 0.2·region + 0.1·tic + 0.5·hard_total
 *   sig_*   −Σ logsigmoid(±(e^t·I·Tᵀ + b)) / B, + on the diagonal          (all_reduce_siglip_loss)
 *   region  symmetric CE of RoI features vs box texts, scale e^{logit_scale_finegraind}   (pairwise_contrastive_loss)
 *   tic     box-text cosines, diagonal and > 0.95 zeroed, top-10 per row, mean log Σ exp   (hard_category_contrastive_loss)
 *   hard    0.6·con + 3·pair + 0.4·cmr with e^{logit_scale_hardneg} and the threshold θ  (hard_contrastive_total_loss)
 * Features come from the same graphs as inference (text walks, MAP head, dense head + RoIAlign on each image's own
 * grid). Padded box slots are dropped before normalizing. Gradients are not computed here.
 */
import { FgClipError } from '../../errors.js';
import { roiAlign1x1 } from '../../postprocess/roi-align.js';
import { l2normalize } from '../../postprocess/similarity.js';
import type { NaflexImage } from '../../preprocess/naflex.js';
import type { Fgclip2Model } from './model.js';

export interface Fgclip2LossBatch {
  /** [B][N·3·p·p] NaFlex patches, with masks and spatial shapes */
  readonly pixelValues: readonly Float32Array[];
  readonly pixelAttentionMask: readonly (readonly number[])[];
  readonly spatialShapes: readonly (readonly [number, number])[];
  /** [B][64] and [B][196] token ids */
  readonly textShort: readonly (readonly number[])[];
  readonly textLong?: readonly (readonly number[])[];
  /** [B·K][4] normalized xyxy, K slots per image; the first boxNums[i] of image i are valid */
  readonly boxInfos: readonly (readonly number[])[];
  readonly boxTexts: readonly (readonly number[])[];
  readonly boxNums: readonly number[];
  /** [B·K][4] hard boxes packed to the front per image; hardTexts: 11 rows (positive, then 10 negatives) per valid hard box */
  readonly hardInfos: readonly (readonly number[])[];
  readonly hardTexts: readonly (readonly number[])[];
  readonly hardNums: readonly number[];
}

export interface Fgclip2LossScales {
  readonly logitScale: number;
  readonly logitBias: number;
  readonly logitScaleFinegraind: number;
  readonly logitScaleHardneg: number;
  /** θ of the CMR term before the step (the model's `thresholds`; training starts at 0.5) */
  readonly threshold: number;
}

export interface Fgclip2LossResult {
  readonly loss: number;
  readonly parts: {
    sig_long: number;
    sig_short: number;
    region: number;
    tic: number;
    hard_total: number;
    hard_con: number;
    hard_pair: number;
    hard_cmr: number;
  };
  /** mean positive logit − mean non-zero negative logit (get_cmr_loss); the next θ is clamp(this, 0, 10) */
  readonly thresholdComputed: number;
  readonly thresholdOut: number;
}

const dotv = (a: Float32Array, b: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const logSumExp = (xs: readonly number[]): number => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
};
/** −log softmax(row)[target] */
const ce = (row: readonly number[], target: number): number => logSumExp(row) - row[target];
const logSigmoid = (x: number): number => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));

function siglip(img: Float32Array[], txt: Float32Array[], t: number, b: number): number {
  let s = 0;
  img.forEach((i, r) => txt.forEach((x, c) => (s -= logSigmoid((r === c ? 1 : -1) * (t * dotv(i, x) + b)))));
  return s / img.length;
}

/** A valid box: its image and its row in the flat [B·K] lists. */
export interface BoxSlot {
  readonly image: number;
  readonly flat: number;
}

/** Valid slots: the first `nums[i]` of each image's K slots, as (image, slot index in the flat list). */
function validSlots(nums: readonly number[], total: number, what: string): BoxSlot[] {
  const B = nums.length;
  if (total % B !== 0) throw new FgClipError('INPUT_INVALID', `loss: ${what} has ${total} rows, not a multiple of the batch size ${B}`);
  const K = total / B;
  const out: BoxSlot[] = [];
  nums.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 0 || n > K) throw new FgClipError('INPUT_INVALID', `loss: ${what} count ${i} is ${n} (expected 0..${K})`);
    for (let k = 0; k < n; k++) out.push({ image: i, flat: i * K + k });
  });
  return out;
}

/**
 * Checks a batch's counts (INPUT_INVALID naming the field) and returns its valid box and hard-box slots; the hard
 * texts must be 11 rows per valid hard box.
 */
export function checkFgclip2Batch(batch: Fgclip2LossBatch): { boxSlots: BoxSlot[]; hardSlots: BoxSlot[] } {
  const B = batch.pixelValues.length;
  if (B === 0) throw new FgClipError('INPUT_INVALID', 'loss: the batch is empty');
  const perImage: [string, number | undefined][] = [
    ['pixel_attention_mask', batch.pixelAttentionMask.length],
    ['spatial_shapes', batch.spatialShapes.length],
    ['text_short', batch.textShort.length],
    ['text_long', batch.textLong?.length],
    ['box_nums', batch.boxNums.length],
    ['hard_nums', batch.hardNums.length],
  ];
  for (const [k, n] of perImage) if (n !== undefined && n !== B) throw new FgClipError('INPUT_INVALID', `loss: ${k} has ${n} entries for ${B} images`);
  if (batch.boxTexts.length !== batch.boxInfos.length)
    throw new FgClipError('INPUT_INVALID', `loss: box_texts has ${batch.boxTexts.length} rows for ${batch.boxInfos.length} boxes`);
  const boxSlots = validSlots(batch.boxNums, batch.boxInfos.length, 'box_infos');
  const hardSlots = validSlots(batch.hardNums, batch.hardInfos.length, 'hard_infos');
  if (hardSlots.length > 0 && batch.hardTexts.length !== hardSlots.length * 11)
    throw new FgClipError('INPUT_INVALID', `loss: hard_texts has ${batch.hardTexts.length} rows (expected 11 per valid hard box: ${hardSlots.length * 11})`);
  return { boxSlots, hardSlots };
}

export async function fgclip2StageTwoLoss(model: Fgclip2Model, batch: Fgclip2LossBatch, scales: Fgclip2LossScales): Promise<Fgclip2LossResult> {
  const { boxSlots, hardSlots } = checkFgclip2Batch(batch);
  const p = model.config.vision_config.patch_size;
  const row = 3 * p * p;
  const items: NaflexImage[] = batch.pixelValues.map((pv, b) => ({
    pixelValues: pv,
    mask: Uint8Array.from(batch.pixelAttentionMask[b]),
    spatialShape: batch.spatialShapes[b] as [number, number],
    maxNumPatches: pv.length / row,
    patchSize: p,
    imageSizeHw: [1, 1],
    resized: { width: 0, height: 0, data: new Uint8Array() },
  }));
  const images = await model.encodePreprocessed(items, true);
  const I = images.map((r) => l2normalize(r.embedding));
  const short = (await model.runIds(batch.textShort, 'short')).map(l2normalize);
  const t = Math.exp(scales.logitScale);
  const sigShort = siglip(I, short, t, scales.logitBias);
  const sigLong = batch.textLong ? siglip(I, (await model.runIds(batch.textLong, 'long')).map(l2normalize), t, scales.logitBias) : 0;
  const D = model.embeddingDim;
  const roi = (slots: BoxSlot[], boxes: readonly (readonly number[])[]): Float32Array[] =>
    slots.map(({ image, flat }) => {
      const r = images[image];
      const [h, w] = r.grid;
      const b = boxes[flat];
      return l2normalize(roiAlign1x1(r.dense as Float32Array, h, w, D, [[b[0] * w, b[1] * h, b[2] * w, b[3] * h]])[0]);
    });

  // region–text contrastive and TIC over the valid boxes
  let region = 0;
  let tic = 0;
  if (boxSlots.length > 0) {
    const R = roi(boxSlots, batch.boxInfos);
    const T = (
      await model.runIds(
        boxSlots.map((s) => batch.boxTexts[s.flat]),
        'box',
      )
    ).map(l2normalize);
    const s = Math.exp(scales.logitScaleFinegraind);
    const n = R.length;
    const perImage = R.map((r) => T.map((x) => s * dotv(r, x)));
    const perText = T.map((x) => R.map((r) => s * dotv(x, r)));
    region = (perText.reduce((a, r, i) => a + ce(r, i), 0) / n + perImage.reduce((a, r, i) => a + ce(r, i), 0) / n) / 2;
    const k = Math.min(10, n);
    tic =
      T.map((a, i) => {
        const sims = T.map((b, j) => (i === j ? 0 : dotv(a, b))).map((v) => (v > 0.95 ? 0 : v));
        return logSumExp(sims.sort((x, y) => y - x).slice(0, k));
      }).reduce((x, y) => x + y, 0) / n;
  }

  // hard negatives
  let hardCon = 0;
  let hardPair = 0;
  let hardCmr = 0;
  let thresholdComputed = scales.threshold;
  if (hardSlots.length > 0) {
    const R = roi(hardSlots, batch.hardInfos);
    const T = (await model.runIds(batch.hardTexts, 'box')).map(l2normalize);
    const s = Math.exp(scales.logitScaleHardneg);
    const n = R.length;
    const gt = R.map((_, i) => T[i * 11]);
    const da = R.map((_, i) => T.slice(i * 11 + 1, i * 11 + 11));
    const all = [...gt, ...da.flat()];
    const perImage = R.map((r) => all.map((x) => s * dotv(r, x)));
    const perText = gt.map((g) => R.map((r) => s * dotv(g, r)));
    hardCon = (perImage.reduce((a, r, i) => a + ce(r, i), 0) / n + perText.reduce((a, r, i) => a + ce(r, i), 0) / n) / 2;
    hardPair =
      R.reduce(
        (a, r, i) =>
          a +
          ce(
            [gt[i], ...da[i]].map((x) => s * dotv(r, x)),
            0,
          ),
        0,
      ) / n;
    const daLogits = R.map((r, i) => da[i].map((x) => s * dotv(r, x)));
    const pos = R.map((r, i) => s * dotv(r, gt[i]));
    let relu = 0;
    let negSum = 0;
    let negCount = 0;
    daLogits.forEach((negs, i) =>
      negs.forEach((v) => {
        relu += Math.max(0, scales.threshold + v - pos[i]);
        if (v !== 0) {
          negSum += v;
          negCount++;
        }
      }),
    );
    hardCmr = relu / (n * 10);
    thresholdComputed = pos.reduce((a, b) => a + b, 0) / n - negSum / negCount;
  }
  const hardTotal = 0.6 * hardCon + 3 * hardPair + 0.4 * hardCmr;
  const loss = sigLong + sigShort + 0.2 * region + 0.1 * tic + 0.5 * hardTotal;
  return {
    loss,
    parts: { sig_long: sigLong, sig_short: sigShort, region, tic, hard_total: hardTotal, hard_con: hardCon, hard_pair: hardPair, hard_cmr: hardCmr },
    thresholdComputed,
    thresholdOut: Math.min(10, Math.max(0, thresholdComputed)),
  };
}

/**
 * The training-only scales a checkpoint saved by the training code carries (`logit_scale_finegraind`,
 * `logit_scale_hardneg`); absent ones start where train_fgclip2.py:554-555 starts them, 4.6052 (ln 100).
 */
export async function readTrainingScales(weightsPath: string): Promise<{ logitScaleFinegraind: number; logitScaleHardneg: number; carried: string[] }> {
  const { readSafetensors } = await import('../../weights/safetensors.js');
  const names = ['logit_scale_finegraind', 'logit_scale_hardneg'];
  const t = await readSafetensors(weightsPath, { only: (n) => names.includes(n) });
  const carried = names.filter((n) => !t.has(n));
  const v = (n: string) => t.get(n)?.data[0] ?? 4.6052;
  return { logitScaleFinegraind: v(names[0]), logitScaleHardneg: v(names[1]), carried };
}

function field<T>(obj: Record<string, unknown>, key: string, check: (v: unknown) => v is T, what: string): T {
  const v = obj[key];
  if (!check(v)) throw new FgClipError('INPUT_INVALID', `loss batch: ${key} must be ${what}`);
  return v;
}
const isRows = (v: unknown): v is number[][] =>
  Array.isArray(v) && v.every((r) => Array.isArray(r) && r.every((x) => typeof x === 'number' && Number.isFinite(x)));
const isNums = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
const isCube = (v: unknown): v is number[][][] => Array.isArray(v) && v.every(isRows);

/**
 * A batch in the reference collate's layout (the `inputs` of goldens-v2 fgclip2-*.loss.json, or that object
 * itself): pixel_values [B][N][3·p·p], pixel_attention_mask, spatial_shapes, text_short, text_long, box and hard
 * fields. Every field is checked (INPUT_INVALID naming it).
 */
export function fgclip2BatchFromReferenceJson(json: unknown): { batch: Fgclip2LossBatch; threshold?: number } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FgClipError('INPUT_INVALID', 'loss batch: expected a JSON object');
  const top = json as Record<string, unknown>;
  const o = (typeof top.inputs === 'object' && top.inputs !== null ? top.inputs : top) as Record<string, unknown>;
  const pv = field(o, 'pixel_values', isCube, 'a [B][N][3·p·p] array of numbers');
  const shapes = field(o, 'spatial_shapes', isRows, 'a [B][2] array of integers');
  return {
    batch: {
      pixelValues: pv.map((rows) => Float32Array.from(rows.flat())),
      pixelAttentionMask: field(o, 'pixel_attention_mask', isRows, 'a [B][N] array of 0/1'),
      spatialShapes: shapes.map((s) => [s[0], s[1]] as const),
      textShort: field(o, 'text_short', isRows, 'a [B][64] array of token ids'),
      textLong: o.text_long === undefined || o.text_long === null ? undefined : field(o, 'text_long', isRows, 'a [B][196] array of token ids'),
      boxInfos: field(o, 'box_infos_normalized_xyxy', isRows, 'a [B·K][4] array'),
      boxTexts: field(o, 'box_texts', isRows, 'a [B·K][64] array of token ids'),
      boxNums: field(o, 'box_nums', isNums, 'a [B] array of counts'),
      hardInfos: field(o, 'hard_infos_normalized_xyxy', isRows, 'a [B·K][4] array'),
      hardTexts: field(o, 'hard_texts', isRows, 'a [Σhard·11][64] array of token ids'),
      hardNums: field(o, 'hard_nums', isNums, 'a [B] array of counts'),
    },
    threshold: typeof top.threshold_in === 'number' ? top.threshold_in : undefined,
  };
}
