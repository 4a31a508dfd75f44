/**
 * The machine's fp32 matrix-multiply rate in ONNX Runtime: a one-node MatMul graph ([M, K] input × [K, N] weight),
 * built with the project's GraphBuilder and run with the library's session options (threads as given, 'all'
 * optimizations). It is the ceiling our encoder graphs are compared against (engine-notes.md's speed reference).
 * Rates are 2·M·K·N FLOP over the median wall time of a `session.run`.
 */
import { GraphBuilder } from '../src/graph/onnx-builder.js';
import { createSession, ort } from '../src/runtime/session.js';
import { Rng } from './synthetic.js';
import { median, timeRuns } from './stats.js';

export interface MatmulResult {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly threads: number;
  readonly runs: number;
  readonly medianMs: number;
  readonly bestMs: number;
  /** 2·M·K·N / median time */
  readonly gflops: number;
  readonly bestGflops: number;
}

function randomMatrix(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

export async function measureMatmul(m: number, k: number, n: number, opts: { threads: number; runs: number; warmup?: number }): Promise<MatmulResult> {
  const g = new GraphBuilder('matmul');
  const a = g.input('a', 'float', [m, k]);
  const w = g.weight('w', randomMatrix(k * n, 1), [k, n]);
  g.alias(g.op1('MatMul', 'matmul', [a, w]), 'y');
  g.output('y', 'float', [m, n]);
  const session = await createSession('matmul', g.build(), { threads: opts.threads });
  try {
    const feed = { a: new ort.Tensor('float32', randomMatrix(m * k, 2), [m, k]) };
    // A pre-allocated output. onnxruntime-node 1.30 writes into it AND returns a new tensor with its own copy of the
    // result (checked 2026-12-01: `out.y !== fetches.y`, different buffers, both filled), so the timed run still
    // includes a copy of the [M, N] output into a fresh JS buffer: 1.9–10 ms for 1576×3072 floats here, against a
    // ~24 ms idle MatMul. The rate is understated by that much, and every "% of MatMul" overstated (BENCHMARKS.md).
    const fetches = { y: new ort.Tensor('float32', new Float32Array(m * n), [m, n]) };
    const times = await timeRuns(() => session.run(feed, fetches), opts.runs, opts.warmup ?? 2);
    const flop = 2 * m * k * n;
    const med = median(times);
    const best = Math.min(...times);
    return { m, k, n, threads: opts.threads, runs: opts.runs, medianMs: med, bestMs: best, gflops: flop / med / 1e6, bestGflops: flop / best / 1e6 };
  } finally {
    await session.release();
  }
}
