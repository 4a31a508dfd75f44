/**
 * Records → `TrainBatch`es, as the reference's dataset + collator build them (train_fgclip.py
 * `LazySupervisedBboxDataset.__getitem__`, `DataCollatorForSupervisedDataset`):
 * - image: decoded, squashed to S×S with Pillow's bicubic and normalized (the project's preprocessing, run in the
 *   worker pool of src/pipeline, so the next batch is decoded while the current one trains);
 * - long caption → 248 ids; `"a photo of " + short_caption` → 77 ids (without a short caption, stage-1 pairs use
 *   the long caption cut to 77);
 * - stage 2: per image its first ≤ 4 boxes, each with the short or the long expression (a seeded coin per record and
 *   epoch, the reference's `random.choice`) → 77 ids; per hard box its 11 texts → 77 ids each.
 *
 * Order: a seeded shuffle per epoch (rng.ts). A record whose image is missing or undecodable is reported with its
 * place in the file and either skipped (the batch is filled from the following records) or ends the run, as chosen.
 */
import { FgClipError } from '../../errors.js';
import { batchPixelValues } from '../../preprocess/index.js';
import type { PreprocessPool } from '../../pipeline/index.js';
import type { ClipTokenizer } from '../../tokenizer/index.js';
import type { NormalizedBox, Stage, TrainBatch } from '../types.js';
import type { BadRecord, TrainRecord } from './records.js';
import { epochOrder, recordRandom } from './rng.js';

export const LONG_LENGTH = 248;
export const SHORT_LENGTH = 77;
/** train_fgclip.py: `caption_short = "a photo of " + item["short_caption"]` */
export const SHORT_CAPTION_PREFIX = 'a photo of ';

export type BadRecordPolicy = 'skip' | 'fail';

/** Where a run is in its data: the epoch and the number of records of that epoch's order already consumed. */
export interface DataPosition {
  readonly epoch: number;
  readonly index: number;
}

export interface LoaderOptions {
  readonly records: readonly TrainRecord[];
  readonly stage: Stage;
  readonly batchSize: number;
  readonly seed: number;
  readonly tokenizer: ClipTokenizer;
  /** decodes and preprocesses images (workers); its size must be the model's image size */
  readonly pool: PreprocessPool;
  readonly imageSize: number;
  /** default 'skip' */
  readonly onBadRecord?: BadRecordPolicy;
  /** called for each skipped record */
  readonly onSkip?: (bad: BadRecord) => void;
  /** default true */
  readonly shuffle?: boolean;
  /** drop an epoch's last, smaller batch (default false, as the HF trainer) */
  readonly dropLast?: boolean;
  /** default "a photo of " */
  readonly shortCaptionPrefix?: string;
}

export interface LoadedBatch {
  readonly batch: TrainBatch;
  /** position after this batch */
  readonly next: DataPosition;
  readonly epoch: number;
  /** records in the batch, in batch order */
  readonly records: readonly string[];
  /** records skipped while building it */
  readonly skipped: readonly BadRecord[];
}

/** Builds the token part of a batch from records (images already loaded), as the reference's collator does. */
export function collate(
  records: readonly TrainRecord[],
  pixels: readonly Float32Array[],
  o: { stage: Stage; imageSize: number; tokenizer: ClipTokenizer; seed: number; epoch: number; recordIds: readonly number[]; shortCaptionPrefix?: string },
): TrainBatch {
  const prefix = o.shortCaptionPrefix ?? SHORT_CAPTION_PREFIX;
  const ids = (t: string, n: number) => o.tokenizer.encode(t, { maxLength: n }).ids;
  const textLong = records.map((r) => ids(r.caption, LONG_LENGTH));
  const textShort = records.map((r) => ids(r.shortCaption === undefined ? r.caption : prefix + r.shortCaption, SHORT_LENGTH));
  const base = { size: records.length, imageSize: o.imageSize, pixels: batchPixelValues(pixels, o.imageSize), textLong, textShort };
  if (o.stage === 1) return base;
  const boxes: NormalizedBox[][] = [];
  const boxTexts: number[][] = [];
  const hardBoxes: NormalizedBox[][] = [];
  const hardTexts: number[][] = [];
  records.forEach((r, i) => {
    if (!r.boxes) throw new FgClipError('INPUT_INVALID', `${r.where}: stage 2 needs FineHARD records with bbox_info`);
    const mine: NormalizedBox[] = [];
    const hard: NormalizedBox[] = [];
    r.boxes.forEach((b, k) => {
      mine.push(b.box);
      const long = recordRandom(o.seed, o.epoch, o.recordIds[i], k + 1) >= 0.5;
      boxTexts.push(ids(long ? b.longExpr : b.shortExpr, SHORT_LENGTH));
      if (b.hardTexts) {
        hard.push(b.box);
        for (const t of b.hardTexts) hardTexts.push(ids(t, SHORT_LENGTH));
      }
    });
    boxes.push(mine);
    hardBoxes.push(hard);
  });
  return { ...base, boxes, boxTexts, hardBoxes, hardTexts };
}

export class BatchLoader {
  readonly options: LoaderOptions;
  private readonly policy: BadRecordPolicy;

  constructor(options: LoaderOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1)
      throw new FgClipError('INPUT_INVALID', `batch size: expected a positive integer (got ${options.batchSize})`);
    if (options.records.length === 0) throw new FgClipError('INPUT_INVALID', 'training data: no usable records');
    if (options.stage === 2) {
      const noBoxes = options.records.find((r) => !r.boxes);
      if (noBoxes) throw new FgClipError('INPUT_INVALID', `${noBoxes.where}: stage 2 needs FineHARD records with bbox_info`);
    }
    this.options = options;
    this.policy = options.onBadRecord ?? 'skip';
    if (this.policy !== 'skip' && this.policy !== 'fail')
      throw new FgClipError('INPUT_INVALID', `on-bad-record: expected skip or fail (got ${String(this.policy)})`);
  }

  /** batches per epoch when no record is skipped */
  get stepsPerEpoch(): number {
    const n = this.options.records.length;
    const b = this.options.batchSize;
    return this.options.dropLast ? Math.max(1, Math.floor(n / b)) : Math.ceil(n / b);
  }

  private order(epoch: number): Uint32Array {
    return epochOrder(this.options.records.length, this.options.seed, epoch, this.options.shuffle ?? true);
  }

  /**
   * Loads the batch starting at `pos` (moving to the next epoch when `pos` is at an epoch's end or its remainder is
   * dropped). Images of the batch are decoded in parallel in the pool.
   */
  async load(pos: DataPosition, live?: { readonly stopped: boolean }): Promise<LoadedBatch> {
    const o = this.options;
    const n = o.records.length;
    let { epoch, index } = pos;
    const remaining = (i: number) => n - i;
    if (index >= n || (o.dropLast && remaining(index) < o.batchSize)) {
      epoch++;
      index = 0;
    }
    for (let attempt = 0; ; attempt++) {
      const order = this.order(epoch);
      const got: { id: number; pixels: Float32Array }[] = [];
      const skipped: BadRecord[] = [];
      let i = index;
      while (got.length < o.batchSize && i < n) {
        const want = Math.min(o.batchSize - got.length, n - i);
        const ids = Array.from(order.subarray(i, i + want));
        i += want;
        const results = await Promise.allSettled(ids.map((id) => o.pool.run(o.records[id].image)));
        // a prefetch that outlived its `batches()` (the run ended, the pool may be closed): nothing to report
        if (live?.stopped) throw new FgClipError('DISPOSED', 'batch loader: stopped');
        results.forEach((r, k) => {
          const rec = o.records[ids[k]];
          if (r.status === 'fulfilled') got.push({ id: ids[k], pixels: r.value.pixels });
          else {
            const e = r.reason as unknown;
            const bad = { where: rec.where, reason: `image ${rec.image}: ${e instanceof Error ? e.message : String(e)}` };
            if (this.policy === 'fail') {
              throw new FgClipError(
                e instanceof FgClipError ? e.code : 'IMAGE_DECODE',
                `${bad.where}: bad record: ${bad.reason} (use --on-bad-record skip to skip such records)`,
                { cause: e },
              );
            }
            skipped.push(bad);
            o.onSkip?.(bad);
          }
        });
      }
      if (got.length === 0 || (o.dropLast && got.length < o.batchSize)) {
        // every remaining record of this epoch was bad (or too few were left): next epoch
        if (attempt > 1 && index === 0) throw new FgClipError('INPUT_INVALID', 'training data: no record has a loadable image');
        epoch++;
        index = 0;
        continue;
      }
      const records = got.map((g) => o.records[g.id]);
      const batch = collate(
        records,
        got.map((g) => g.pixels),
        {
          stage: o.stage,
          imageSize: o.imageSize,
          tokenizer: o.tokenizer,
          seed: o.seed,
          epoch,
          recordIds: got.map((g) => g.id),
          shortCaptionPrefix: o.shortCaptionPrefix,
        },
      );
      return { batch, next: { epoch, index: i }, epoch, records: records.map((r) => r.where), skipped };
    }
  }

  /**
   * Batches from `start` on, forever (epochs follow each other); the next batch is loaded while the caller works on
   * the current one.
   */
  async *batches(start: DataPosition): AsyncGenerator<LoadedBatch, void, undefined> {
    const live = { stopped: false };
    let pending = this.load(start, live);
    try {
      for (;;) {
        const cur = await pending;
        pending = this.load(cur.next, live);
        pending.catch(() => undefined); // surfaced when awaited
        yield cur;
      }
    } finally {
      // the prefetched batch is abandoned: its failures (e.g. the pool closing under it) are not bad records
      live.stopped = true;
    }
  }
}
