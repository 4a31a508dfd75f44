/**
 * A global budget of decoded pixels across requests: each image holds its pixel count (from the header) while it
 * is decoded and preprocessed, so N concurrent requests with images near the pixel limit decode a few at a time
 * instead of all at once (memory bounded by the budget, not by the request mix). First come, first served; an image
 * larger than the whole budget runs alone. Waiting is abortable (the request deadline).
 */
type Waiter = { readonly n: number; readonly go: (release: () => void) => void };

export class PixelBudget {
  private used = 0;
  private most = 0;
  private waited = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly total: number) {}

  get inUse(): number {
    return this.used;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** the most pixels held at once so far (never above `total`) */
  get peak(): number {
    return this.most;
  }

  /** acquisitions that had to wait their turn so far */
  get waits(): number {
    return this.waited;
  }

  /** Resolves with the release function once `pixels` fit (clamped to the total). */
  acquire(pixels: number, signal?: AbortSignal): Promise<() => void> {
    const n = Math.max(1, Math.min(Math.ceil(pixels), this.total));
    if (this.waiting.length === 0 && this.used + n <= this.total) return Promise.resolve(this.grant(n));
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.waited++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(w);
        if (i >= 0) this.waiting.splice(i, 1);
        this.pump();
        reject(signal?.reason);
      };
      const w: Waiter = {
        n,
        go: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(w);
    });
  }

  private grant(n: number): () => void {
    this.used += n;
    this.most = Math.max(this.most, this.used);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= n;
      this.pump();
    };
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0].n <= this.total) {
      const w = this.waiting.shift()!;
      w.go(this.grant(w.n));
    }
  }
}
