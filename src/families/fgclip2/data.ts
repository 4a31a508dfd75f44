/**
 * FineHARD records → FG-CLIP 2 stage-2 batches (`Fgclip2LossBatch`, the reference collate's layout), as the
 * authors' dataset and collator build them (train_fgclip2.py `LazySupervisedBboxDataset.__getitem__` and
 * `DataCollatorForSupervisedDataset`, lines 240-505). The records are read and checked by v1's reader
 * (src/train/data/records.ts: the same JSON list / JSONL fields, `is_cn` marks Chinese pairs); the epoch order and
 * the per-record coins are v1's (src/train/data/rng.ts). What is FG-CLIP 2's own:
 *
 * - image: decoded to RGB; if a side is under 128 pixels it is first squashed to box_image_size² with Pillow's
 *   default BICUBIC (`image.resize((512, 512))`, stage2_fgclip2.sh --box_image_size 512); its token count is
 *   (W//16)·(H//16) (16 hard-coded there); the batch's patch budget is the card's bucket of the largest count
 *   (128/256/576/784/1024), and every image of the batch goes through NaFlex at that budget (Siglip2ImageProcessor:
 *   no dynamic rule), so all share one padded length;
 * - texts, lowercased: the long caption → 196 ids; `"a photo of " + short_caption` → 64 ids (Chinese pairs: the short
 *   caption without the prefix); 4 box slots per image: the short or long expression (a seeded coin per record,
 *   box and epoch: the reference's `random.choice`) → 64 ids, empty slots tokenize "" with box [0, 0, 0, 0]; hard
 *   boxes (`flag_short_neg == 1`) packed to the front of their 4 slots, each with 11 texts: the positive as written
 *   (the reference does not lowercase it), then the 10 negatives lowercased. Chinese pairs have no boxes.
 *
 * A record whose image cannot be read is reported with its place in the file and either skipped (the batch is
 * filled from the following records) or ends the run, as chosen; a record without short_caption, or an English one
 * without bbox_info, is refused up front (the reference would raise a KeyError mid-run).
 */
import { FgClipError } from '../../errors.js';
import { decodeImage } from '../../preprocess/decode.js';
import { dynamicMaxPatches, naflexPreprocess, type NaflexImage } from '../../preprocess/naflex.js';
import { resizeBicubic } from '../../preprocess/resize.js';
import type { RgbImage } from '../../preprocess/types.js';
import type { SentencePieceBpeTokenizer } from '../../tokenizer/sp-bpe-tokenizer.js';
import { MAX_BOXES, type BadRecord, type TrainRecord } from '../../train/data/records.js';
import { epochOrder, recordRandom } from '../../train/data/rng.js';
import type { Fgclip2PreprocessConfig } from './config.js';
import type { Fgclip2LossBatch } from './loss.js';

/** stage2_fgclip2.sh `--box_image_size 512`: the square small images are squashed to */
export const FGCLIP2_BOX_IMAGE_SIZE = 512;
/** images with a side under this are squashed first (train_fgclip2.py:269) */
export const FGCLIP2_SMALL_SIDE = 128;
/** train_fgclip2.py:249 */
export const FGCLIP2_SHORT_PREFIX = 'a photo of ';

export interface Fgclip2DataPosition {
  readonly epoch: number;
  /** records of that epoch's order already consumed */
  readonly index: number;
}

export interface Fgclip2DataOptions {
  readonly records: readonly TrainRecord[];
  readonly batchSize: number;
  readonly seed: number;
  /** default true */
  readonly shuffle?: boolean;
  /**
   * every batch holds one language (the authors' BilingualSampler, `--cn_and_en_2_train`; see `bilingualOrder`);
   * default false: one seeded order over all records
   */
  readonly bilingual?: boolean;
  readonly tokenizer: SentencePieceBpeTokenizer;
  readonly preprocess: Fgclip2PreprocessConfig;
  /** short/box and long text lengths (the checkpoint's max_position_embeddings and longtext_len: 64 and 196) */
  readonly shortLength: number;
  readonly longLength: number;
  /** default 512 */
  readonly boxImageSize?: number;
  /** default 'fail' */
  readonly onBadRecord?: 'skip' | 'fail';
  readonly onSkip?: (bad: BadRecord) => void;
}

export interface Fgclip2LoadedBatch {
  readonly batch: Fgclip2LossBatch;
  readonly next: Fgclip2DataPosition;
  readonly epoch: number;
  /** where each record of the batch is in its file, in batch order */
  readonly records: readonly string[];
  readonly skipped: readonly BadRecord[];
}

/** Refuses records the stage-2 dataset cannot use, naming the first few with their place in the file. */
export function checkFgclip2Records(records: readonly TrainRecord[]): void {
  if (records.length === 0) throw new FgClipError('INPUT_INVALID', 'training data: no usable records');
  const bad = records.flatMap((r) =>
    r.shortCaption === undefined
      ? [`${r.where}: missing field short_caption`]
      : !r.isCn && r.boxes === undefined
        ? [`${r.where}: missing field bbox_info (English records need FineHARD boxes; Chinese pairs carry "is_cn")`]
        : [],
  );
  if (bad.length > 0)
    throw new FgClipError(
      'INPUT_INVALID',
      `training data: ${bad.length} record(s) the FG-CLIP 2 stage-2 dataset cannot use: ${bad.slice(0, 3).join('; ')}${bad.length > 3 ? '; …' : ''}`,
    );
}

/** The decoded image as the dataset hands it to the collator (small images squashed to box_image_size²). */
export async function loadTrainImage(path: string, boxImageSize = FGCLIP2_BOX_IMAGE_SIZE): Promise<RgbImage> {
  const img = await decodeImage(path);
  return img.width < FGCLIP2_SMALL_SIDE || img.height < FGCLIP2_SMALL_SIDE ? resizeBicubic(img, boxImageSize, boxImageSize) : img;
}

/** The collator's patch budget of a batch: the card's bucket of the largest (W//16)·(H//16). */
export function batchPatchBudget(images: readonly { width: number; height: number }[]): number {
  return Math.max(...images.map((im) => dynamicMaxPatches(im.width, im.height, 16)));
}

/** One batch from records and their (loaded) images; `recordIds` index the records' file order (for the coins). */
export function collateFgclip2(
  records: readonly TrainRecord[],
  images: readonly RgbImage[],
  o: Pick<Fgclip2DataOptions, 'tokenizer' | 'preprocess' | 'shortLength' | 'longLength' | 'seed'> & { epoch: number; recordIds: readonly number[] },
): Fgclip2LossBatch {
  const pc = o.preprocess;
  const budget = batchPatchBudget(images);
  const pre: NaflexImage[] = images.map((im) =>
    naflexPreprocess(im, {
      patchSize: pc.patch_size,
      maxNumPatches: budget,
      dynamic: false,
      rescaleFactor: pc.do_rescale ? pc.rescale_factor : 1,
      mean: pc.do_normalize ? pc.image_mean : [0, 0, 0],
      std: pc.do_normalize ? pc.image_std : [1, 1, 1],
    }),
  );
  const tok = (texts: readonly string[], n: number) => o.tokenizer.encodeBatch(texts, { maxLength: n }).map((e) => [...e.ids]);
  const boxInfos: number[][] = [];
  const boxTexts: string[] = [];
  const boxNums: number[] = [];
  const hardInfos: number[][] = [];
  const hardTexts: string[] = [];
  const hardNums: number[] = [];
  records.forEach((r, i) => {
    const boxes = r.isCn ? [] : (r.boxes ?? []).slice(0, MAX_BOXES);
    const hard = boxes.filter((b) => b.hardTexts !== undefined);
    for (let k = 0; k < MAX_BOXES; k++) {
      const b = boxes[k];
      boxInfos.push(b ? [...b.box] : [0, 0, 0, 0]);
      const long = b !== undefined && recordRandom(o.seed, o.epoch, o.recordIds[i], k + 1) >= 0.5;
      boxTexts.push(b ? (long ? b.longExpr : b.shortExpr).toLowerCase() : '');
      hardInfos.push(hard[k] ? [...hard[k].box] : [0, 0, 0, 0]);
    }
    for (const b of hard) {
      const [positive, ...negatives] = b.hardTexts as readonly string[];
      hardTexts.push(positive, ...negatives.map((t) => t.toLowerCase()));
    }
    boxNums.push(boxes.length);
    hardNums.push(hard.length);
  });
  return {
    pixelValues: pre.map((p) => p.pixelValues),
    pixelAttentionMask: pre.map((p) => Array.from(p.mask)),
    spatialShapes: pre.map((p) => [p.spatialShape[0], p.spatialShape[1]] as const),
    textShort: tok(
      records.map((r) => (r.isCn ? (r.shortCaption as string) : FGCLIP2_SHORT_PREFIX + (r.shortCaption as string)).toLowerCase()),
      o.shortLength,
    ),
    textLong: tok(
      records.map((r) => r.caption.toLowerCase()),
      o.longLength,
    ),
    boxInfos,
    boxTexts: tok(boxTexts, o.shortLength),
    boxNums,
    hardInfos,
    hardTexts: hardTexts.length > 0 ? tok(hardTexts, o.shortLength) : [],
    hardNums,
  };
}

/**
 * The authors' bilingual order (local_trainer.py `get_bilingual_grouped_indices`, used when `cn_and_en_2_train` is
 * set): the Chinese (`is_cn`) and the English records, each in file order, cut into batches of `batchSize` (the
 * reference's megabatch is world size × batch size; one process here); each language's last, partial batch is
 * dropped (the reference drops it); the batches are then shuffled as wholes, so every batch is of one language.
 * Our seeded generator stands in for `torch.randperm` (the same distribution, not the same draws).
 */
export function bilingualOrder(isCn: readonly boolean[], batchSize: number, seed: number, epoch: number, shuffle = true): Uint32Array {
  const groups: number[][] = [];
  for (const cn of [true, false]) {
    const ids = isCn.flatMap((c, i) => (c === cn ? [i] : []));
    for (let i = 0; i + batchSize <= ids.length; i += batchSize) groups.push(ids.slice(i, i + batchSize));
  }
  const pick = epochOrder(groups.length, seed, epoch, shuffle);
  const order = new Uint32Array(groups.length * batchSize);
  pick.forEach((g, k) => order.set(groups[g], k * batchSize));
  return order;
}

/** Batches of FineHARD records in a seeded order per epoch; `load(pos)` is deterministic (resume continues exactly). */
export class Fgclip2BatchLoader {
  private readonly policy: 'skip' | 'fail';

  constructor(readonly options: Fgclip2DataOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1)
      throw new FgClipError('INPUT_INVALID', `batch size: expected a positive integer (got ${options.batchSize})`);
    checkFgclip2Records(options.records);
    if (options.bilingual) {
      // the reference asserts both languages; a language with fewer records than a batch would give no batch at all
      const cn = options.records.filter((r) => r.isCn).length;
      const en = options.records.length - cn;
      if (cn < options.batchSize || en < options.batchSize)
        throw new FgClipError(
          'INPUT_INVALID',
          `bilingual batches: every batch is one language, so each needs at least a batch of records (batch size ${options.batchSize}; got ${cn} Chinese ("is_cn") and ${en} English records)`,
        );
    }
    this.policy = options.onBadRecord ?? 'fail';
    if (this.policy !== 'skip' && this.policy !== 'fail')
      throw new FgClipError('INPUT_INVALID', `on-bad-record: expected skip or fail (got ${String(this.policy)})`);
  }

  /** batches per epoch when no record is skipped (the last one may be smaller, as the HF trainer's) */
  get stepsPerEpoch(): number {
    const o = this.options;
    if (o.bilingual) return this.orderOf(0).length / o.batchSize;
    return Math.ceil(o.records.length / o.batchSize);
  }

  /** the records of `epoch` in the order batches take them */
  private orderOf(epoch: number): Uint32Array {
    const o = this.options;
    return o.bilingual
      ? bilingualOrder(
          o.records.map((r) => r.isCn === true),
          o.batchSize,
          o.seed,
          epoch,
          o.shuffle ?? true,
        )
      : epochOrder(o.records.length, o.seed, epoch, o.shuffle ?? true);
  }

  async load(pos: Fgclip2DataPosition): Promise<Fgclip2LoadedBatch> {
    const o = this.options;
    let { epoch, index } = pos;
    // whether the records scanned since the start of this epoch all failed (then no record is loadable)
    let emptyFromStart = false;
    for (;;) {
      const order = this.orderOf(epoch);
      const n = order.length; // > 0 (the constructor checked the records)
      if (index >= n) {
        epoch++;
        index = 0;
        continue;
      }
      if (index === 0) emptyFromStart = true;
      // bilingual: a batch is one language's batch of the order, never filled from the next (another language)
      const end = o.bilingual ? Math.min(n, index + o.batchSize) : n;
      const got: { id: number; image: RgbImage }[] = [];
      const skipped: BadRecord[] = [];
      let i = index;
      while (got.length < o.batchSize && i < end) {
        const ids = Array.from(order.subarray(i, Math.min(end, i + o.batchSize - got.length)));
        i += ids.length;
        const results = await Promise.allSettled(ids.map((id) => loadTrainImage(o.records[id].image, o.boxImageSize)));
        results.forEach((r, k) => {
          const rec = o.records[ids[k]];
          if (r.status === 'fulfilled') return void got.push({ id: ids[k], image: r.value });
          const e = r.reason as unknown;
          const bad = { where: rec.where, reason: `image ${rec.image}: ${e instanceof Error ? e.message : String(e)}` };
          if (this.policy === 'fail')
            throw new FgClipError(
              e instanceof FgClipError ? e.code : 'IMAGE_DECODE',
              `${bad.where}: bad record: ${bad.reason} (skip such records with onBadRecord 'skip' / --on-bad-record skip)`,
              { cause: e },
            );
          skipped.push(bad);
          o.onSkip?.(bad);
        });
      }
      if (got.length === 0) {
        if (i >= n && emptyFromStart) throw new FgClipError('INPUT_INVALID', 'training data: no record has a loadable image');
        index = i; // the next batch of the order (or, at its end, the next epoch)
        continue;
      }
      const records = got.map((g) => o.records[g.id]);
      const batch = collateFgclip2(
        records,
        got.map((g) => g.image),
        { ...o, epoch, recordIds: got.map((g) => g.id) },
      );
      return { batch, next: { epoch, index: i }, epoch, records: records.map((r) => r.where), skipped };
    }
  }
}
