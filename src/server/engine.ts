/**
 * The server's path to the model: every text and image a request needs goes through one of three batchers
 * (short texts, long texts, images), so concurrent requests share ONNX Runtime calls. Results are what
 * `FgClip.encodeTexts` / `encodeImages` compute (the same tower calls; compared in server.test.ts), per item:
 * text rows are padded to their mode's length and cut at the batch's last end token (exact, causal mask).
 */
import type { TextModeOption } from '../model/handle.js';
import type { TextMode } from '../families/fgclip/text-inputs.js';
import { l2normalize } from '../postprocess/similarity.js';
import { Batcher, type BatchInfo, type SubmitStats } from './batcher.js';
import { badRequest } from './http-error.js';
import type { ServedModel } from './served-model.js';

export interface BatchingOptions {
  /** false: each request runs on its own (no merging across requests) */
  readonly enabled: boolean;
  readonly maxBatchSize: number;
  readonly maxWaitMs: number;
  /** items allowed to wait per lane */
  readonly maxQueue: number;
}

export interface TextResult {
  /** L2-normalized embeddings, one per text */
  readonly embeddings: Float32Array[];
  readonly modes: TextMode[];
  /** tokens fed to the tower per text, bos/eos included (after truncation) */
  readonly tokens: number[];
}

export interface VisionOutput {
  /** raw (un-normalized) global embedding [P] */
  readonly image: Float32Array;
  /** raw dense features, gridH*gridW vectors of [P], row-major */
  readonly dense: Float32Array[];
}

export interface RunOptions {
  readonly signal?: AbortSignal;
  readonly stats?: SubmitStats;
}

export class Engine {
  readonly lanes: Batcher<unknown, unknown>[];
  private readonly short: Batcher<number[], Float32Array>;
  private readonly long: Batcher<number[], Float32Array>;
  private readonly images: Batcher<Float32Array, VisionOutput>;

  constructor(
    readonly model: ServedModel,
    readonly batching: BatchingOptions,
    onBatch?: (info: BatchInfo) => void,
  ) {
    const common = {
      maxBatchSize: batching.enabled ? batching.maxBatchSize : Math.max(1, batching.maxBatchSize),
      maxWaitMs: batching.enabled ? batching.maxWaitMs : 0,
      maxQueue: batching.maxQueue,
      mergeSubmissions: batching.enabled,
      onBatch,
    };
    this.short = new Batcher({ ...common, lane: 'text-short', run: (ids) => this.runText(ids, 'short') });
    this.long = new Batcher({ ...common, lane: 'text-long', run: (ids) => this.runText(ids, 'long') });
    this.images = new Batcher({ ...common, lane: 'image', run: (px) => this.runVision(px) });
    this.lanes = [this.short, this.long, this.images] as Batcher<unknown, unknown>[];
  }

  /** max token count (bos/eos included) of each text mode */
  get maxTokens(): Record<TextMode, number> {
    const t = this.model.textLengths;
    return { short: t.short, long: t.long ?? t.short, box: t.box ?? t.short };
  }

  /**
   * Tokenizes (mode 'auto': short when the text fits 77 tokens, else long) and embeds. Without `truncate`, a text
   * longer than its mode allows is an INPUT_INVALID error naming it, instead of being cut silently.
   */
  async texts(texts: readonly string[], mode: TextModeOption, truncate: boolean, field: string, opts: RunOptions = {}): Promise<TextResult> {
    const max = this.maxTokens;
    const { counts, ids: rows, modes } = await this.model.tokenize(texts, mode);
    counts.forEach((n, i) => {
      const m = modes[i];
      if (n > max[m] && !truncate) {
        throw badRequest('INPUT_INVALID', `${field}[${i}]: the text has ${n} tokens, over the ${max[m]}-token limit of ${m} mode${mode === 'short' ? " (text_mode 'auto' or 'long' allows 248)" : ''}. Shorten it or set "truncate": true.`, `${field}[${i}]`);
      }
    });
    const tokens = counts.map((n, i) => Math.min(n, max[modes[i]]));
    const pick = (m: TextMode) => rows.map((r, i) => (modes[i] === m ? i : -1)).filter((i) => i >= 0);
    const [si, li] = [pick('short'), pick('long')];
    const [s, l] = await Promise.all([this.short.submit(si.map((i) => rows[i]), opts), this.long.submit(li.map((i) => rows[i]), opts)]);
    const embeddings: Float32Array[] = new Array(texts.length);
    si.forEach((i, k) => (embeddings[i] = s[k]));
    li.forEach((i, k) => (embeddings[i] = l[k]));
    return { embeddings, modes, tokens };
  }

  /** Preprocessed pixel values (one [3, S, S] image each) → raw global and dense features. */
  vision(pixels: readonly Float32Array[], opts: RunOptions = {}): Promise<VisionOutput[]> {
    return this.images.submit(pixels, opts);
  }

  queueDepths(): { lane: string; depth: number }[] {
    return this.lanes.map((b) => ({ lane: b.lane, depth: b.queueDepth }));
  }

  close(): void {
    for (const b of this.lanes) b.close();
  }

  async idle(): Promise<void> {
    await Promise.all(this.lanes.map((b) => b.idle()));
  }

  private async runText(ids: number[][], mode: TextMode): Promise<Float32Array[]> {
    return (await this.model.runText(ids, mode)).map(l2normalize);
  }

  private async runVision(pixels: Float32Array[]): Promise<VisionOutput[]> {
    const per = pixels[0].length;
    const batch = new Float32Array(per * pixels.length); // [B, 3, S, S] (transferred to the model worker)
    pixels.forEach((p, i) => batch.set(p, i * per));
    const { image, dense } = await this.model.runVision(batch);
    return image.map((v, i) => ({ image: v, dense: dense[i] }));
  }
}
