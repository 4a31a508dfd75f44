/**
 * Load test of `fgclip serve`: starts the server as a child process on 127.0.0.1 (a golden checkpoint, fgclip-small
 * by default), runs N concurrent clients for a fixed time (or until a request budget is spent) with dynamic
 * batching on and then off, and reports throughput, latency percentiles, the effective mean batch size (from the
 * server's /metrics), the mean batch of three bursts of N concurrent one-image requests, the server's peak resident
 * memory, how fast GET /health and GET /metrics answer while the model is busy (one probe every 50 ms, sent from a
 * worker thread of its own so that the load clients' JSON work does not delay the probe's timer or its reading of
 * the answer), and the server's own event-loop delay (p99 and max, from its /metrics).
 * Prints a table, then the same numbers as JSON.
 *
 *   node --import tsx scripts/loadtest.ts [--model DIR] [--concurrency 16] [--duration 15] [--max-requests 5000]
 *                                         [--workload mixed|text|image] [--max-batch-size 32] [--max-wait-ms 0]
 *                                         [--max-hold-ms N] [--threads N] [--image-size N]
 *   --image-size N: run the vision tower at N px (a heavier model); --threads: the server's ONNX Runtime threads;
 *   --max-hold-ms: the server's hold for images still decoding (default: the server's)
 * Only loopback is used; nothing leaves the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const GOLDENS = process.env.FGCLIP_GOLDENS ?? resolve(ROOT, '..', 'shared', 'goldens');

type Workload = 'mixed' | 'text' | 'image';

interface Options {
  model: string;
  concurrency: number;
  durationS: number;
  maxRequests: number;
  workload: Workload;
  maxBatchSize: number;
  maxWaitMs: number;
  maxHoldMs?: number;
  threads?: number;
  /** vision tower resolution passed to the server (interpolated position embeddings); heavier than native */
  imageSize?: number;
}

interface ProbeStats {
  p50: number;
  p99: number;
  max: number;
  probes: number;
}

interface PhaseResult {
  batching: 'on' | 'off';
  requests: number;
  errors: number;
  seconds: number;
  req_per_s: number;
  items_per_s: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  mean_batch_size: number;
  peak_rss_mb: number;
  /** three bursts of `concurrency` one-image requests sent at once (before the timed phase): mean images per model batch */
  burst_mean_batch: number;
  /** how many image batches each burst took */
  burst_batches: number[];
  /** GET /health and GET /metrics answered while the load ran (one probe every 50 ms, from a worker thread), ms */
  health_ms: ProbeStats;
  metrics_ms: ProbeStats;
  /** the server's event-loop delay since it started (its /metrics), ms */
  server_loop_ms: { p99: number; max: number };
  /** the load generator's own event-loop delay during the phase (where the probes used to run), ms */
  client_loop_ms: { p99: number; max: number };
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      'max-requests': { type: 'string' },
      workload: { type: 'string' },
      'max-batch-size': { type: 'string' },
      'max-wait-ms': { type: 'string' },
      'max-hold-ms': { type: 'string' },
      threads: { type: 'string' },
      'image-size': { type: 'string' },
    },
    strict: true,
  });
  const num = (name: string, v: string | undefined, fallback: number, min: number, max: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name}: expected a number in [${min}, ${max}] (got ${v})`);
    return n;
  };
  const workload = (values.workload ?? 'mixed') as Workload;
  if (!['mixed', 'text', 'image'].includes(workload)) throw new Error(`--workload: expected mixed, text or image (got ${workload})`);
  return {
    model: values.model ?? join(GOLDENS, 'fgclip-small'),
    concurrency: num('concurrency', values.concurrency, 16, 1, 1024),
    durationS: num('duration', values.duration, 15, 1, 120),
    maxRequests: num('max-requests', values['max-requests'], 5000, 1, 1_000_000),
    workload,
    maxBatchSize: num('max-batch-size', values['max-batch-size'], 32, 1, 1024),
    maxWaitMs: num('max-wait-ms', values['max-wait-ms'], 0, 0, 1000),
    maxHoldMs: values['max-hold-ms'] === undefined ? undefined : num('max-hold-ms', values['max-hold-ms'], 0, 0, 10_000),
    threads: values.threads === undefined ? undefined : num('threads', values.threads, 0, 1, 256),
    imageSize: values['image-size'] === undefined ? undefined : num('image-size', values['image-size'], 0, 16, 1024),
  };
}

/** Starts `fgclip serve` in a child process on a free loopback port; resolves with its URL. */
async function startServer(o: Options, batching: boolean): Promise<{ child: ChildProcess; url: string }> {
  const serveArgs = [
    'serve',
    '--model',
    o.model,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--max-batch-size',
    String(o.maxBatchSize),
    '--max-wait-ms',
    String(o.maxWaitMs),
    '--max-queue',
    '100000',
    ...(o.maxHoldMs !== undefined ? ['--max-hold-ms', String(o.maxHoldMs)] : []),
    ...(o.threads ? ['--threads', String(o.threads)] : []),
    ...(o.imageSize ? ['--image-size', String(o.imageSize)] : []),
    ...(batching ? [] : ['--no-batching']),
  ];
  const entry = `import { main } from ${JSON.stringify(join(ROOT, 'src', 'cli', 'main.ts'))}; process.exitCode = await main(${JSON.stringify(serveArgs)});`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', entry], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the server did not start within 120 s:\n${err}`)), 120_000);
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /serving .* on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`the server exited (${code}):\n${err}`)));
  });
  child.stderr?.removeAllListeners('data');
  child.stderr?.resume(); // request logs: discarded
  return { child, url };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + '{') || line.startsWith(name + ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function requests(workload: Workload): (i: number) => { body: string; items: number } {
  const images = ['cat_dfclor.jpg', 'gradient_97x61.png', 'noise_rgba_40x120.png', 'gray_50x50.png'].map(
    (f) => `data:image/*;base64,${readFileSync(join(GOLDENS, 'images', f)).toString('base64')}`,
  );
  const subjects = ['cat', 'dog', 'red car', 'white cat on a laptop', 'bicycle', 'cup of coffee', 'tree', 'man in a blue shirt'];
  return (i) => {
    const kind = workload === 'mixed' ? (i % 2 === 0 ? 'text' : 'image') : workload;
    if (kind === 'text') return { body: JSON.stringify({ input: `a photo of a ${subjects[i % subjects.length]} number ${i}` }), items: 1 };
    return { body: JSON.stringify({ input: images[i % images.length], modality: 'image' }), items: 1 };
  };
}

async function phase(o: Options, batching: boolean): Promise<PhaseResult> {
  const { child, url } = await startServer(o, batching);
  try {
    const make = requests(o.workload);
    // warm-up: one request of each kind, not counted
    for (let i = 0; i < 2; i++) await fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: make(i).body });
    const bursts: { batches: number; items: number }[] = [];
    for (let i = 0; i < 3; i++) bursts.push(await burstBatch(url, o.concurrency));
    const burstItems = bursts.reduce((a, b) => a + b.items, 0);
    const burstBatches = bursts.reduce((a, b) => a + b.batches, 0);
    const batches0 = await metric(url, 'fgclip_batch_size_count');
    const batchItems0 = await metric(url, 'fgclip_batch_size_sum');
    let peakRss = await metric(url, 'process_resident_memory_bytes');
    const sampler = setInterval(
      () =>
        void metric(url, 'process_resident_memory_bytes').then(
          (v) => (peakRss = Math.max(peakRss, v)),
          () => undefined,
        ),
      250,
    );
    // the event loop must stay free while the model runs: /health and /metrics are timed throughout the phase, from
    // a worker thread (this thread's event loop is busy with the clients' bodies and answers)
    const probe = startProbe(url);
    const clientLoop = monitorEventLoopDelay({ resolution: 10 });
    clientLoop.enable();
    const latencies: number[] = [];
    let issued = 0;
    let errors = 0;
    let items = 0;
    const start = performance.now();
    const deadline = start + o.durationS * 1000;
    const client = async () => {
      while (performance.now() < deadline && issued < o.maxRequests) {
        const r = make(issued++);
        const t0 = performance.now();
        try {
          const res = await fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: r.body });
          await res.arrayBuffer();
          if (res.ok) {
            latencies.push(performance.now() - t0);
            items += r.items;
          } else errors++;
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, client));
    const seconds = (performance.now() - start) / 1000;
    clearInterval(sampler);
    clientLoop.disable();
    const { health, metrics: metricsMs } = await probe.stop();
    health.sort((a, b) => a - b);
    metricsMs.sort((a, b) => a - b);
    peakRss = Math.max(peakRss, await metric(url, 'process_resident_memory_bytes'));
    const batches = (await metric(url, 'fgclip_batch_size_count')) - batches0;
    const batchItems = (await metric(url, 'fgclip_batch_size_sum')) - batchItems0;
    latencies.sort((a, b) => a - b);
    const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
    return {
      batching: batching ? 'on' : 'off',
      requests: latencies.length,
      errors,
      seconds: round(seconds, 2),
      req_per_s: round(latencies.length / seconds),
      items_per_s: round(items / seconds),
      latency_ms: {
        p50: round(percentile(latencies, 50)),
        p90: round(percentile(latencies, 90)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies[latencies.length - 1] ?? NaN),
      },
      mean_batch_size: round(batches > 0 ? batchItems / batches : 0, 2),
      burst_mean_batch: round(burstBatches > 0 ? burstItems / burstBatches : 0, 2),
      burst_batches: bursts.map((b) => b.batches),
      peak_rss_mb: round(peakRss / 2 ** 20),
      health_ms: {
        p50: round(percentile(health, 50)),
        p99: round(percentile(health, 99)),
        max: round(health[health.length - 1] ?? NaN),
        probes: health.length,
      },
      metrics_ms: {
        p50: round(percentile(metricsMs, 50)),
        p99: round(percentile(metricsMs, 99)),
        max: round(metricsMs[metricsMs.length - 1] ?? NaN),
        probes: metricsMs.length,
      },
      server_loop_ms: {
        p99: round((await metric(url, 'nodejs_eventloop_lag_p99_seconds')) * 1000),
        max: round((await metric(url, 'nodejs_eventloop_lag_max_seconds')) * 1000),
      },
      client_loop_ms: { p99: round(clientLoop.percentile(99) / 1e6), max: round(clientLoop.max / 1e6) },
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((ok) => child.once('exit', ok));
  }
}

/**
 * Probes GET /health and GET /metrics every 50 ms from a worker thread (its own event loop: the timings are the
 * server's, not the load generator's), until stopped.
 */
function startProbe(url: string): { stop: () => Promise<{ health: number[]; metrics: number[] }> } {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const out = { health: [], metrics: [] };
    let probing = true;
    parentPort.on('message', () => (probing = false));
    (async () => {
      while (probing) {
        for (const [path, into] of [['/health', out.health], ['/metrics', out.metrics]]) {
          const t0 = performance.now();
          await (await fetch(workerData + path)).arrayBuffer();
          into.push(performance.now() - t0);
        }
        await new Promise((ok) => setTimeout(ok, 50));
      }
      parentPort.postMessage(out);
    })();`;
  const worker = new Worker(code, { eval: true, workerData: url });
  const done = new Promise<{ health: number[]; metrics: number[] }>((ok, fail) => {
    worker.once('message', ok);
    worker.once('error', fail);
  });
  return {
    stop: async () => {
      worker.postMessage('stop');
      const r = await done;
      await worker.terminate();
      return r;
    },
  };
}

/** Sends n one-image requests at once and returns the image lane's batches and items over them. */
async function burstBatch(url: string, n: number): Promise<{ batches: number; items: number }> {
  const img = `data:image/jpeg;base64,${readFileSync(join(GOLDENS, 'images', 'cat_dfclor.jpg')).toString('base64')}`;
  const count = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const pick = (name: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && l.includes('lane="image"'))
        .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    return { batches: pick('fgclip_batch_size_count'), items: pick('fgclip_batch_size_sum') };
  };
  const before = await count();
  const body = JSON.stringify({ input: img, modality: 'image' });
  await Promise.all(
    Array.from({ length: n }, () =>
      fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.arrayBuffer()),
    ),
  );
  const after = await count();
  return { batches: after.batches - before.batches, items: after.items - before.items };
}

function table(rows: PhaseResult[]): string {
  const head = [
    'batching',
    'requests',
    'errors',
    'req/s',
    'items/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'mean batch',
    'burst batch',
    'peak RSS MB',
    '/health p50/p99/max ms',
    '/metrics p50/p99/max ms',
    'server loop p99/max ms',
    'client loop p99/max ms',
  ];
  const body = rows.map((r) =>
    [
      r.batching,
      r.requests,
      r.errors,
      r.req_per_s,
      r.items_per_s,
      r.latency_ms.p50,
      r.latency_ms.p90,
      r.latency_ms.p99,
      r.mean_batch_size,
      r.burst_mean_batch,
      r.peak_rss_mb,
      `${r.health_ms.p50}/${r.health_ms.p99}/${r.health_ms.max}`,
      `${r.metrics_ms.p50}/${r.metrics_ms.p99}/${r.metrics_ms.max}`,
      `${r.server_loop_ms.p99}/${r.server_loop_ms.max}`,
      `${r.client_loop_ms.p99}/${r.client_loop_ms.max}`,
    ].map(String),
  );
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(w[i])).join('  ');
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}

async function run(): Promise<void> {
  const o = options();
  process.stderr.write(
    `loadtest: ${o.model}${o.imageSize ? ` at ${o.imageSize} px` : ''}, ${o.concurrency} clients, ${o.durationS} s or ${o.maxRequests} requests per phase, workload ${o.workload}\n`,
  );
  const results: PhaseResult[] = [];
  for (const batching of [true, false]) {
    process.stderr.write(`loadtest: batching ${batching ? 'on' : 'off'}…\n`);
    results.push(await phase(o, batching));
  }
  process.stdout.write(`\n${table(results)}\n\n`);
  const [on, off] = results;
  const summary = {
    model: o.model,
    image_size: o.imageSize ?? 'native',
    concurrency: o.concurrency,
    duration_s: o.durationS,
    max_requests: o.maxRequests,
    workload: o.workload,
    max_batch_size: o.maxBatchSize,
    max_wait_ms: o.maxWaitMs,
    max_hold_ms: o.maxHoldMs ?? 'server default',
    threads: o.threads ?? 'server default',
    results,
    speedup: Math.round((on.req_per_s / off.req_per_s) * 100) / 100,
  };
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
}

run().catch((e) => {
  process.stderr.write(`loadtest: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
