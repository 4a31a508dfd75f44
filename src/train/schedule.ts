/**
 * Learning-rate schedules of the Hugging Face trainer the authors used (`--lr_scheduler_type cosine
 * --warmup_steps 200`): transformers' `get_cosine_schedule_with_warmup` (num_cycles 0.5) and friends, as a pure
 * function of the optimizer step. As with PyTorch's LambdaLR stepped after each optimizer step, the update with
 * index `step` (0-based) uses `baseLr · λ(step)`, so with warmup the very first update has learning rate 0.
 */
import { FgClipError } from '../errors.js';

export type ScheduleKind = 'cosine' | 'linear' | 'constant';

export interface ScheduleOptions {
  /** peak learning rate (the reference's stage-2 script: 1e-6) */
  readonly lr: number;
  /** total optimizer steps of the run */
  readonly totalSteps: number;
  /** linear warmup steps (default 0; the reference's script: 200) */
  readonly warmupSteps?: number;
  /** after warmup (default 'cosine') */
  readonly kind?: ScheduleKind;
}

export function checkSchedule(o: ScheduleOptions): void {
  const bad = (what: string, expected: string, got: unknown) =>
    new FgClipError('INPUT_INVALID', `schedule: bad ${what} (expected ${expected}, got ${String(got)})`);
  if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw bad('lr', 'a finite number ≥ 0', o.lr);
  if (!Number.isInteger(o.totalSteps) || o.totalSteps < 1) throw bad('totalSteps', 'a positive integer', o.totalSteps);
  const w = o.warmupSteps ?? 0;
  if (!Number.isInteger(w) || w < 0) throw bad('warmupSteps', 'an integer ≥ 0', w);
  const k = o.kind ?? 'cosine';
  if (k !== 'cosine' && k !== 'linear' && k !== 'constant') throw bad('kind', 'cosine, linear or constant', k);
}

/** λ(step) of transformers' schedules: linear warmup `step / max(1, warmup)`, then the decay. */
export function lrFactor(step: number, o: ScheduleOptions): number {
  const warmup = o.warmupSteps ?? 0;
  if (step < warmup) return step / Math.max(1, warmup);
  const kind = o.kind ?? 'cosine';
  if (kind === 'constant') return 1;
  const progress = (step - warmup) / Math.max(1, o.totalSteps - warmup);
  if (kind === 'linear') return Math.max(0, (o.totalSteps - step) / Math.max(1, o.totalSteps - warmup));
  // get_cosine_schedule_with_warmup, num_cycles = 0.5
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 2 * 0.5 * progress)));
}

/** Learning rate of the update with 0-based index `step`. */
export function learningRate(step: number, o: ScheduleOptions): number {
  return o.lr * lrFactor(step, o);
}
