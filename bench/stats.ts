/** Timing helpers: every reported figure is a median of timed runs after untimed warm-up runs. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Runs `fn` `warmup` times untimed, then `runs` times; returns each timed run's wall time in ms. */
export async function timeRuns(fn: () => Promise<unknown>, runs: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

/**
 * Times several functions in alternation (a b c a b c …) after one warm-up round, so a change in machine load
 * during the measurement hits all of them alike and their ratios stay meaningful. Returns each one's run times (ms).
 */
export async function timeInterleaved(fns: readonly (() => Promise<unknown>)[], runs: number, warmup = 1): Promise<number[][]> {
  for (let w = 0; w < warmup; w++) for (const fn of fns) await fn();
  const out = fns.map((): number[] => []);
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < fns.length; i++) {
      const t = performance.now();
      await fns[i]();
      out[i].push(performance.now() - t);
    }
  }
  return out;
}
