/** Assertions of the hostile-input suite: every failure is a typed FgClipError; memory stays bounded. */
import assert from 'node:assert/strict';
import { FgClipError } from '../../errors.js';

/** Runs `fn`; returns the result, or the FgClipError it threw. Any other throw fails the test, naming the case. */
export async function typedOrOk<T>(name: string, fn: () => T | Promise<T>): Promise<T | FgClipError> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof FgClipError && typeof e.code === 'string' && e.code.length > 0) return e;
    assert.fail(`case "${name}": expected a result or an FgClipError, got ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
  }
}

/** The process's peak resident memory stays under `mb` (the corpus files are all small). */
export function assertPeakRssBelow(mb: number): void {
  const peak = process.resourceUsage().maxRSS / 1024; // kB → MB
  assert.ok(peak < mb, `peak RSS ${peak.toFixed(0)} MB, expected < ${mb} MB for inputs of a few KB`);
}

/** Counts outcomes per error code, for a readable summary in test names/diagnostics. */
export function tally(outcomes: readonly unknown[]): Record<string, number> {
  const t: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const o of outcomes) {
    const k = o instanceof FgClipError ? o.code : 'ok';
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}
