/**
 * Dynamic batching: items submitted by concurrent requests are merged into one model call of at most
 * `maxBatchSize` items. When the model is idle, a batch leaves when it is full or when its oldest item has waited
 * `maxWaitMs` (the latency a request may pay so that others can join it); when a batch finishes, the items that
 * queued meanwhile leave at once. At most `concurrency` batches run at once.
 *
 * The queue is bounded in items: `submit` rejects with `QueueFullError` when the waiting items plus the new ones
 * exceed `maxQueue` (the server answers 503 + Retry-After); a request larger than `maxQueue` is still admitted
 * when the queue is empty, so the per-request input limit, not the queue, bounds request size.
 * A submission may carry an AbortSignal (the request deadline): its waiting items leave the queue at once and
 * its promise rejects with the signal's reason; items already inside a running batch finish, their results
 * are dropped. Failure of a batch rejects every submission with items in it.
 *
 * Companions known to be coming: a caller may announce items before it can submit them (`expect(n)`: images still
 * being decoded). While announced items are outstanding, a batch that is not full waits for them — at most
 * `maxHoldMs`, and at most about as long as one model call of this lane has recently taken (see `holdMs`): without
 * the hold, those items would arrive while the batch runs and wait for it to finish anyway, then pay a model call
 * of their own. A lone request announces only its own items, so it never waits. This is what merges a burst of
 * one-image requests whose images leave the decode pool one or two at a time.
 */

/** How `submit` consumes an `Expected` (kept off the public interface). */
const TAKE = Symbol('take');

export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  constructor(
    readonly lane: string,
    readonly queued: number,
    readonly maxQueue: number,
  ) {
    super(`${lane}: the queue is full (${queued} items waiting, at most ${maxQueue})`);
  }
}

/** Constructor misuse: a programming error of the caller, not an input error of a request. */
export class BatcherOptionsError extends Error {
  override readonly name = 'BatcherOptionsError';
}

export class BatcherClosedError extends Error {
  override readonly name = 'BatcherClosedError';
}

export interface BatchInfo {
  readonly lane: string;
  /** items in the batch */
  readonly size: number;
  /** distinct submissions (requests) with items in the batch */
  readonly submissions: number;
  /** time the oldest item waited before the batch started */
  readonly waitMs: number;
  /** time the batch function took */
  readonly runMs: number;
  readonly ok: boolean;
}

export interface BatcherOptions<I, O> {
  /** a name for messages and metrics (e.g. "text-short", "image") */
  readonly lane: string;
  readonly maxBatchSize: number;
  readonly maxWaitMs: number;
  /** items allowed to wait (not yet in a running batch) */
  readonly maxQueue: number;
  /** false: a batch holds items of one submission only (no merging across requests; for comparison) */
  readonly mergeSubmissions?: boolean;
  /** batches running at the same time (default 1: ONNX Runtime already uses every core for one call) */
  readonly concurrency?: number;
  /**
   * the longest an item waits for items announced with `expect` (default 0: no hold). The wait is also bounded by
   * the lane's recent model-call time (an average of the last batches' `runMs`), so a fast lane barely waits.
   */
  readonly maxHoldMs?: number;
  /** the clock, ms (default performance.now; tests pass a fake one to make waits and run times deterministic) */
  readonly now?: () => number;
  /** runs one batch; must return one output per input, in order */
  readonly run: (items: I[]) => Promise<O[]>;
  readonly onBatch?: (info: BatchInfo) => void;
}

/**
 * Items announced before they can be submitted (`Batcher.expect`). `submit(items, { expected })` consumes the
 * announcement; `release()` withdraws whatever was not submitted (a decode failed, the request ended): a batch held
 * for those items then leaves. Release in a `finally`; releasing twice is harmless.
 */
export interface Expected {
  /** announced items not submitted yet */
  readonly remaining: number;
  /** announces `n` more items (e.g. one more image has started decoding) */
  add(n: number): void;
  release(): void;
}

/** Filled in while a submission runs: the sizes of the batches its items travelled in (for request logs). */
export interface SubmitStats {
  batches: number[];
}

interface Job<O> {
  readonly results: O[];
  remaining: number;
  done: boolean;
  readonly resolve: (v: O[]) => void;
  readonly reject: (e: unknown) => void;
  readonly stats?: SubmitStats;
  cleanup?: () => void;
}

interface Slot<I, O> {
  readonly item: I;
  readonly job: Job<O>;
  readonly index: number;
  readonly enqueuedAt: number;
}

export class Batcher<I, O> {
  private queue: Slot<I, O>[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly maxHoldMs: number;
  private readonly now: () => number;
  /** items announced with `expect` and not yet submitted or released */
  private announced = 0;
  /** moving average of recent batches' run time, ms (undefined before the first batch) */
  private runEstimate: number | undefined;

  constructor(private readonly opts: BatcherOptions<I, O>) {
    for (const k of ['maxBatchSize', 'maxQueue'] as const) {
      if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new BatcherOptionsError(`Batcher ${opts.lane}: ${k} must be an integer ≥ 1 (got ${opts[k]})`);
    }
    if (!(opts.maxWaitMs >= 0)) throw new BatcherOptionsError(`Batcher ${opts.lane}: maxWaitMs must be ≥ 0 (got ${opts.maxWaitMs})`);
    this.concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1)
      throw new BatcherOptionsError(`Batcher ${opts.lane}: concurrency must be an integer ≥ 1 (got ${this.concurrency})`);
    this.now = opts.now ?? (() => performance.now());
    this.maxHoldMs = opts.maxHoldMs ?? 0;
    if (!(this.maxHoldMs >= 0)) throw new BatcherOptionsError(`Batcher ${opts.lane}: maxHoldMs must be ≥ 0 (got ${opts.maxHoldMs})`);
  }

  get lane(): string {
    return this.opts.lane;
  }

  /** items waiting for a batch */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** batches running now */
  get active(): number {
    return this.running;
  }

  /** items announced with `expect` and not yet submitted or released */
  get expected(): number {
    return this.announced;
  }

  /**
   * How long a batch that is not full may wait for announced items now: min(maxHoldMs, recent model-call time).
   * Before any batch has run there is no estimate and maxHoldMs applies.
   */
  get holdMs(): number {
    return Math.min(this.maxHoldMs, this.runEstimate ?? this.maxHoldMs);
  }

  /**
   * Announces `n` items that this caller will submit soon (e.g. images now decoding), so that a batch forming
   * meanwhile waits for them (bounded: see `holdMs`). Pass the result to `submit` as `expected`, and `release()` it
   * when done, whatever happened.
   */
  expect(n = 0): Expected {
    let remaining = 0;
    let released = false;
    // announcing is pointless when batches never merge submissions
    const merging = this.opts.mergeSubmissions ?? true;
    const add = (k: number) => {
      if (released || this.closed || !merging || !(k > 0)) return;
      remaining += Math.floor(k);
      this.announced += Math.floor(k);
    };
    const take = (k: number) => {
      const t = Math.min(k, remaining);
      remaining -= t;
      this.announced -= t;
      return t;
    };
    add(n);
    return {
      get remaining() {
        return remaining;
      },
      add,
      release: () => {
        released = true;
        if (take(Infinity) > 0 && this.queue.length > 0) this.schedule();
      },
      // consumed by submit (not part of the public interface)
      [TAKE]: take,
    } as Expected;
  }

  submit(items: readonly I[], opts: { signal?: AbortSignal; stats?: SubmitStats; expected?: Expected } = {}): Promise<O[]> {
    if (this.closed) return Promise.reject(new BatcherClosedError(`${this.opts.lane}: the batcher is closed`));
    if (items.length === 0) return Promise.resolve([]);
    const { signal, stats, expected } = opts;
    // these items are no longer coming: they are here (or refused below, and the caller releases the rest)
    (expected as (Expected & { [TAKE]?: (k: number) => number }) | undefined)?.[TAKE]?.(items.length);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.queue.length > 0 && this.queue.length + items.length > this.opts.maxQueue) {
      return Promise.reject(new QueueFullError(this.opts.lane, this.queue.length, this.opts.maxQueue));
    }
    return new Promise<O[]>((resolve, reject) => {
      const job: Job<O> = { results: new Array(items.length), remaining: items.length, done: false, resolve, reject, stats };
      if (signal) {
        const onAbort = () => this.fail(job, signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        job.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      const now = this.now();
      items.forEach((item, index) => this.queue.push({ item, job, index, enqueuedAt: now }));
      this.schedule();
    });
  }

  /** Stops accepting submissions; queued and running work still completes. */
  close(): void {
    this.closed = true;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private fail(job: Job<O>, error: unknown): void {
    if (job.done) return;
    job.done = true;
    job.cleanup?.();
    this.queue = this.queue.filter((s) => s.job !== job);
    job.reject(error);
    this.checkIdle();
  }

  /**
   * Starts batches while a slot is free. `flush` (a batch just finished): the waiting items queued up while the
   * model was busy, which is when batches form under load, so they leave at once instead of idling the model
   * for the rest of maxWaitMs.
   */
  private schedule(flush = false): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.running < this.concurrency && this.queue.length > 0) {
      const age = this.now() - this.queue[0].enqueuedAt;
      const take = this.takeCount();
      let until = 0;
      if (take < this.opts.maxBatchSize) {
        // idle model: wait maxWaitMs for companions (a batch that just finished flushes what queued meanwhile)
        if (!flush && age < this.opts.maxWaitMs) until = this.opts.maxWaitMs;
        // announced companions (decoding now): wait for them, bounded
        if (this.announced > 0 && age < this.holdMs) until = Math.max(until, this.holdMs);
      }
      if (until > 0) {
        this.timer = setTimeout(
          () => {
            this.timer = undefined;
            this.schedule();
          },
          Math.max(0, Math.ceil(until - age)),
        );
        return;
      }
      void this.runBatch(this.queue.splice(0, take));
    }
  }

  /** how many leading queue items the next batch takes */
  private takeCount(): number {
    const n = Math.min(this.opts.maxBatchSize, this.queue.length);
    if (this.opts.mergeSubmissions ?? true) return n;
    const job = this.queue[0].job;
    let k = 1;
    while (k < n && this.queue[k].job === job) k++;
    return k;
  }

  private async runBatch(slots: Slot<I, O>[]): Promise<void> {
    this.running++;
    const start = this.now();
    const waitMs = start - slots[0].enqueuedAt;
    const jobs = new Set(slots.map((s) => s.job));
    for (const j of jobs) j.stats?.batches.push(slots.length);
    let ok = true;
    try {
      const out = await this.opts.run(slots.map((s) => s.item));
      if (!Array.isArray(out) || out.length !== slots.length) {
        throw new Error(`${this.opts.lane}: the batch function returned ${Array.isArray(out) ? out.length : typeof out} outputs for ${slots.length} inputs`);
      }
      slots.forEach((s, i) => {
        const j = s.job;
        if (j.done) return;
        j.results[s.index] = out[i];
        if (--j.remaining === 0) {
          j.done = true;
          j.cleanup?.();
          j.resolve(j.results);
        }
      });
    } catch (e) {
      ok = false;
      for (const j of jobs) this.fail(j, e);
    } finally {
      this.running--;
      const runMs = this.now() - start;
      this.runEstimate = this.runEstimate === undefined ? runMs : 0.7 * this.runEstimate + 0.3 * runMs;
      this.opts.onBatch?.({ lane: this.opts.lane, size: slots.length, submissions: jobs.size, waitMs, runMs, ok });
      this.schedule(true);
      this.checkIdle();
    }
  }

  private checkIdle(): void {
    if (this.queue.length === 0 && this.running === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }
}
