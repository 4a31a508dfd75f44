/**
 * The training-step benchmark in a fresh process (so its peak RSS is its own): the real gradient engine on a
 * synthetic checkpoint of real shapes, one batch per stage, timed after a warm-up step that compiles the sessions.
 *   forward  = engine.embed (the training graphs' forward pass only)
 *   step     = engine.compute (forward + backward + loss, gradients returned)
 *   optimizer = clipGradNorm + AdamW.update over every parameter
 * Usage: node --import tsx bench/train-child.ts '<json TrainChildRequest>'; prints one JSON line on stdout.
 */
import { readFileSync } from 'node:fs';
import { AdamW, clipGradNorm } from '../src/train/optimizer.js';
import { createGradientEngine } from '../src/train/engine.js';
import { ClipTokenizer } from '../src/tokenizer/index.js';
import { median } from './stats.js';
import { nodeFolder } from '../src/platform/node/folder.js';
import { batchOf } from './train-batch.js';
import { measureMatmul } from './matmul.js';

export interface TrainChildRequest {
  readonly dir: string;
  readonly threads: number;
  readonly batch: number;
  readonly runs: number;
  readonly stages: readonly (1 | 2)[];
}

export interface StageTiming {
  readonly stage: 1 | 2;
  /** runs + 1 forward timings: before the first step and after each step */
  readonly forwardMs: number[];
  /** process CPU time (user + system, all threads) of each forward / step: what other processes' load cannot inflate */
  readonly forwardCpuMs: number[];
  readonly stepCpuMs: number[];
  readonly stepMs: number[];
  readonly optimizerMs: number[];
  /** the 1576×768×3072 MatMul rate (GFLOP/s, median of 3) measured in this process just before each step */
  readonly matmulGflops: number[];
  /** compiling the step's and the forward's sessions */
  readonly compileMs: number;
  /** tokens the text tower ran per caption kind (after the engine's cut at the last end token) */
  readonly longTokens: number;
  readonly shortTokens: number;
  readonly boxTexts: number;
  readonly hardTexts: number;
  readonly boxTokens: number;
  readonly hardTokens: number;
  readonly loss: number;
}

export interface TrainChildResult {
  readonly parameters: number;
  readonly stages: StageTiming[];
  readonly peakRss: number;
}

type BenchEngine = Awaited<ReturnType<typeof createGradientEngine>>;

async function createEngine(dir: string, threads: number): Promise<BenchEngine> {
  return createGradientEngine(dir, { threads });
}

function peakRssBytes(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

const lastEos = (rows: readonly (readonly number[])[]) => Math.max(...rows.map((r) => r.indexOf(49407) + 1));

async function main(req: TrainChildRequest): Promise<TrainChildResult> {
  let engine = await createEngine(req.dir, req.threads);
  const tok = await ClipTokenizer.fromFolder(nodeFolder(req.dir));
  // the checkpoint's tensors are the parameters (updated in place by the optimizer; no second copy of 4·P bytes)
  const params = engine.initialParams;
  let parameters = 0;
  for (const v of params.values()) parameters += v.length;
  const S =
    Math.round(Math.sqrt(engine.parameters.get('vision_model.embeddings.position_embedding.weight')![0] - 1)) *
    engine.parameters.get('vision_model.embeddings.patch_embedding.weight')![2];
  const stages: StageTiming[] = [];
  for (const [k, stage] of req.stages.entries()) {
    if (k > 0) {
      // a fresh engine per stage, as a training run has (one stage): the previous stage's sessions and their arenas
      // would otherwise stay allocated and add to this stage's peak
      const config = engine.config;
      await engine.dispose();
      engine = await createGradientEngine({ config, tensors: new Map([...params].map(([n, data]) => [n, { data }])) }, { threads: req.threads });
    }
    const batch = batchOf(tok, req.batch, S, stage);
    const opt = new AdamW();
    // sessions compiled first, untimed as a step (compiling fg-clip-base's training graphs takes minutes on a loaded
    // machine); then each run is forward, step, optimizer — the first run is the sessions' first
    let t = performance.now();
    await engine.prepare(batch, stage);
    const compileMs = performance.now() - t;
    let r: Awaited<ReturnType<typeof engine.compute>> | undefined;
    const forwardMs: number[] = [];
    const stepMs: number[] = [];
    const optimizerMs: number[] = [];
    // as the Trainer: each step writes its gradients into the previous step's buffers (GradientRequest.into)
    let gradBuffers: Map<string, Float32Array> | undefined;
    // forward, then per run: step, optimizer, forward — so each step lies between two forward timings (the bench
    // pairs them: on a shared machine the load moves within minutes)
    const forwardCpuMs: number[] = [];
    const stepCpuMs: number[] = [];
    const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
    let cpu = process.cpuUsage();
    t = performance.now();
    await engine.embed(params, batch, stage);
    forwardMs.push(performance.now() - t);
    forwardCpuMs.push(cpuMs(process.cpuUsage(cpu)));
    const matmulGflops: number[] = [];
    for (let i = 0; i < req.runs; i++) {
      matmulGflops.push((await measureMatmul(1576, 768, 3072, { threads: req.threads, runs: 3, warmup: 1 })).gflops);
      cpu = process.cpuUsage();
      t = performance.now();
      r = await engine.compute(params, batch, { stage, into: gradBuffers });
      stepMs.push(performance.now() - t);
      stepCpuMs.push(cpuMs(process.cpuUsage(cpu)));
      const grads = new Map(r.grads);
      gradBuffers = grads;
      t = performance.now();
      clipGradNorm(grads, 1);
      opt.update(params, grads, 1e-6);
      optimizerMs.push(performance.now() - t);
      cpu = process.cpuUsage();
      t = performance.now();
      await engine.embed(params, batch, stage);
      forwardMs.push(performance.now() - t);
      forwardCpuMs.push(cpuMs(process.cpuUsage(cpu)));
    }
    stages.push({
      stage,
      forwardMs,
      stepMs,
      optimizerMs,
      matmulGflops,
      forwardCpuMs,
      stepCpuMs,
      compileMs,
      longTokens: lastEos(batch.textLong),
      shortTokens: lastEos(batch.textShort),
      boxTexts: batch.boxTexts?.length ?? 0,
      hardTexts: batch.hardTexts?.length ?? 0,
      boxTokens: batch.boxTexts ? lastEos(batch.boxTexts) : 0,
      hardTokens: batch.hardTexts ? lastEos(batch.hardTexts) : 0,
      loss: r!.loss,
    });
    const ms = (xs: number[]) => xs.map((x) => x.toFixed(0)).join('/');
    process.stderr.write(
      `stage ${stage}: step ${median(stepMs).toFixed(0)} ms, forward ${median(forwardMs).toFixed(0)} ms, optimizer ${median(optimizerMs).toFixed(0)} ms (steps ${ms(stepMs)}, forwards ${ms(forwardMs)}, MatMul GFLOP/s ${ms(matmulGflops)}; CPU ms: steps ${ms(stepCpuMs)}, forwards ${ms(forwardCpuMs)})\n`,
    );
  }
  await engine.dispose();
  return { parameters, stages, peakRss: peakRssBytes() };
}

main(JSON.parse(process.argv[2]) as TrainChildRequest).then(
  (r) => process.stdout.write(JSON.stringify(r) + '\n'),
  (e: unknown) => {
    process.stderr.write(`train bench child: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
