/**
 * Training-step figures for `npm run bench` (issue 9 part 8): seconds per step of fg-clip-base shapes at batch 8 for
 * stage 1 and stage 2, backward/forward time ratio, achieved GFLOP/s against the measured MatMul rate, optimizer
 * time and peak RSS — measured in a child process (bench/train-child.ts) with the real gradient engine.
 *
 * FLOPs of a step (matmuls only, flops.ts conventions): forward = B·vision (global; stage 2 adds the dense branch)
 * + text tower runs at the batch's cut lengths (long, short, box and hard-negative texts); backward ≈ 2 × forward
 * (a matmul's VJP is two matmuls of its size), so a step ≈ 3 × forward.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { textFlops, visionFlops } from './flops.js';
import { wasmAdamW } from '../src/train/adamw-wasm.js';
import { scalarAdamW } from '../src/train/optimizer.js';
import { median } from './stats.js';
import { REPO_ROOT, type ModelShape } from './synthetic.js';
import type { StageTiming, TrainChildRequest, TrainChildResult } from './train-child.js';

export interface StageReport {
  readonly stage: 1 | 2;
  readonly stepSeconds: number;
  readonly forwardSeconds: number;
  /** (step − forward) / forward, medians */
  readonly backwardOverForward: number;
  /** median over runs of (step − f) / f, f = mean of the forward timed just before and just after that step */
  readonly pairedBackwardOverForward: number;
  /** (fastest step − fastest forward) / fastest forward: the least contended runs */
  readonly fastestBackwardOverForward: number;
  /** the same ratio from process CPU time (medians): unaffected by other processes taking the cores */
  readonly cpuBackwardOverForward: number;
  readonly optimizerSeconds: number;
  /** compiling the step's and the forward's ONNX Runtime sessions */
  readonly compileSeconds: number;
  readonly forwardGflop: number;
  readonly stepGflop: number;
  readonly achievedGflops: number;
  readonly fractionOfMatmul: number;
  /** median over runs of the step's GFLOP/s over the MatMul rate measured in the child just before that step */
  readonly fractionOfPairedMatmul: number;
}

export interface TrainReport {
  readonly batch: number;
  readonly threads: number;
  readonly runs: number;
  readonly parameters: number;
  readonly peakRss: number;
  readonly stages: StageReport[];
  /** AdamW's per-tensor kernel, scalar loop vs WebAssembly SIMD, same run (see `measureAdamWKernels`) */
  readonly adamw: AdamWKernelTimes;
}

export interface AdamWKernelTimes {
  /** values per call */
  readonly values: number;
  readonly runs: number;
  /** medians, ms per call */
  readonly scalarMs: number;
  readonly simdMs: number;
}

/**
 * The AdamW update of `values` float32 parameters by the scalar loop and by the SIMD kernel (which AdamW uses),
 * alternating, `runs` each, in this process: the share of a step's optimizer time the kernel choice decides (the
 * rest is the gradient clipping pass and the walk over tensors). Both give the same bits (src/train/adamw-wasm.test.ts).
 */
export function measureAdamWKernels(values = 1 << 24, runs = 5): AdamWKernelTimes {
  const wasm = wasmAdamW();
  if (!wasm) throw new Error('WebAssembly SIMD is unavailable in this Node');
  const g = new Float32Array(values).map((_, i) => Math.sin(i) * 1e-3);
  const state = () => ({ p: new Float32Array(values).map((_, i) => Math.cos(i)), m: new Float32Array(values), v: new Float32Array(values) });
  const a = state();
  const b = state();
  const f = Math.fround;
  const scalars = [f(1 - 1e-9), f(0.1), f(0.999), f(0.001), f(0.0316), f(1e-8), f(-1e-6)] as const;
  const scalarMs: number[] = [];
  const simdMs: number[] = [];
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    scalarAdamW(a.p, g, a.m, a.v, ...scalars);
    scalarMs.push(performance.now() - t);
    t = performance.now();
    wasm(b.p, g, b.m, b.v, ...scalars);
    simdMs.push(performance.now() - t);
  }
  return { values, runs, scalarMs: median(scalarMs), simdMs: median(simdMs) };
}

function forwardFlops(shape: ModelShape, B: number, t: StageTiming): number {
  const v = visionFlops(shape);
  return (
    B * (t.stage === 2 ? v.full : v.global) +
    B * textFlops(shape, t.longTokens) +
    B * textFlops(shape, t.shortTokens) +
    t.boxTexts * textFlops(shape, t.boxTokens) +
    t.hardTexts * textFlops(shape, t.hardTokens)
  );
}

export async function measureTraining(
  dir: string,
  shape: ModelShape,
  o: { threads: number; batch: number; runs: number; stages?: readonly (1 | 2)[]; matmulGflops: number; log: (m: string) => void },
): Promise<TrainReport> {
  const adamw = measureAdamWKernels();
  o.log(`  AdamW kernel, ${adamw.values} values: scalar ${adamw.scalarMs.toFixed(0)} ms, SIMD ${adamw.simdMs.toFixed(0)} ms (medians of ${adamw.runs})`);
  const req: TrainChildRequest = { dir, threads: o.threads, batch: o.batch, runs: o.runs, stages: o.stages ?? [1, 2] };
  const result = await new Promise<TrainChildResult>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'train-child.ts'), JSON.stringify(req)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const l of d.toString().split('\n').filter(Boolean)) o.log(`  ${l}`);
    });
    p.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop()!) as TrainChildResult)
        : reject(new Error(`train bench child exited with ${code}: ${err.trim().split('\n').slice(-6).join('\n')}`)),
    );
  });
  const stages = result.stages.map((t): StageReport => {
    const step = median(t.stepMs) / 1000;
    const fwd = median(t.forwardMs) / 1000;
    const paired = t.stepMs.map((s, i) => {
      const f = (t.forwardMs[i] + t.forwardMs[i + 1]) / 2;
      return (s - f) / f;
    });
    const fastF = Math.min(...t.forwardMs);
    const forwardGflop = forwardFlops(shape, o.batch, t) / 1e9;
    const stepGflop = 3 * forwardGflop;
    return {
      stage: t.stage,
      stepSeconds: step,
      forwardSeconds: fwd,
      backwardOverForward: (step - fwd) / fwd,
      pairedBackwardOverForward: median(paired),
      fastestBackwardOverForward: (Math.min(...t.stepMs) - fastF) / fastF,
      cpuBackwardOverForward: (median(t.stepCpuMs) - median(t.forwardCpuMs)) / median(t.forwardCpuMs),
      optimizerSeconds: median(t.optimizerMs) / 1000,
      compileSeconds: t.compileMs / 1000,
      forwardGflop,
      stepGflop,
      achievedGflops: stepGflop / step,
      fractionOfMatmul: stepGflop / step / o.matmulGflops,
      fractionOfPairedMatmul: median(t.stepMs.map((s, i) => stepGflop / (s / 1000) / t.matmulGflops[i])),
    };
  });
  return { batch: o.batch, threads: o.threads, runs: o.runs, parameters: result.parameters, peakRss: result.peakRss, stages, adamw };
}

export function formatTraining(r: TrainReport): string {
  const rows = r.stages.map(
    (s) =>
      `| ${s.stage} | ${s.stepSeconds.toFixed(2)} | ${s.forwardSeconds.toFixed(2)} | ${s.backwardOverForward.toFixed(2)} | ${s.pairedBackwardOverForward.toFixed(2)} | ${s.fastestBackwardOverForward.toFixed(2)} | ${s.cpuBackwardOverForward.toFixed(2)} | ${s.optimizerSeconds.toFixed(2)} | ${s.stepGflop.toFixed(0)} | ${s.achievedGflops.toFixed(1)} | ${(100 * s.fractionOfMatmul).toFixed(0)}% | ${(100 * s.fractionOfPairedMatmul).toFixed(0)}% | ${s.compileSeconds.toFixed(1)} |`,
  );
  return [
    `Training step, fg-clip-base shapes, batch ${r.batch}, ${r.threads} threads, median of ${r.runs} (peak RSS ${(r.peakRss / 2 ** 30).toFixed(2)} GiB, ${(r.parameters / 1e6).toFixed(1)} M parameters):`,
    '',
    '| stage | step s | forward s | backward/forward (medians) | paired | fastest | CPU time | optimizer s | GFLOP/step | GFLOP/s | of MatMul rate | of paired MatMul | compile s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `AdamW kernel (same run, alternating, medians of ${r.adamw.runs}): ${(r.adamw.values / 1e6).toFixed(1)} M values in ${r.adamw.scalarMs.toFixed(0)} ms scalar, ${r.adamw.simdMs.toFixed(0)} ms WebAssembly SIMD (${(r.adamw.scalarMs / r.adamw.simdMs).toFixed(2)}×; AdamW uses SIMD): over ${(r.parameters / 1e6).toFixed(1)} M parameters ≈ ${((r.adamw.scalarMs * r.parameters) / r.adamw.values / 1000).toFixed(2)} s vs ${((r.adamw.simdMs * r.parameters) / r.adamw.values / 1000).toFixed(2)} s.`,
  ].join('\n');
}
