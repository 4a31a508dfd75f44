/** Test helpers: where the read-only reference fixtures live, and float comparisons with stated tolerances. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** ../shared/goldens beside the repository (read-only; never copied into the repo). */
export const GOLDENS = process.env.FGCLIP_GOLDENS ?? resolve(REPO_ROOT, '..', 'shared', 'goldens');

export function goldenPath(...parts: string[]): string {
  return join(GOLDENS, ...parts);
}
export function readGoldenJson<T = unknown>(...parts: string[]): T {
  return JSON.parse(readFileSync(goldenPath(...parts), 'utf8')) as T;
}

/** Relative L2 error ‖a−b‖/‖b‖, computed in float64. NaN anywhere gives Infinity (NaN never matches). */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) return Infinity;
    d += (a[i] - b[i]) ** 2;
    n += b[i] * b[i];
  }
  return Math.sqrt(d) / Math.sqrt(n || 1);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
