/**
 * Prometheus metrics in the text exposition format (version 0.0.4), written by hand: counters, histograms and
 * gauges with labels. Route labels are the fixed route names, never raw paths, so cardinality stays bounded.
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';

type Labels = Readonly<Record<string, string>>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  return pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function key(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort());
}

function num(v: number): string {
  return v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : Number.isNaN(v) ? 'NaN' : String(v);
}

interface Metric {
  render(): string[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const e = this.values.get(k) ?? { labels, value: 0 };
    e.value += by;
    this.values.set(k, e);
  }

  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.value ?? 0;
  }

  render(): string[] {
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} counter`,
      ...[...this.values.values()].map((e) => `${this.name}${labelText(e.labels)} ${num(e.value)}`),
    ];
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, v: number): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    this.buckets.forEach((b, i) => v <= b && s.counts[i]++);
    s.sum += v;
    s.count++;
  }

  /** observations and their sum for one label set */
  stats(labels: Labels): { count: number; sum: number } {
    const s = this.series.get(key(labels));
    return { count: s?.count ?? 0, sum: s?.sum ?? 0 };
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText(s.labels, ['le', num(b)])} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** A gauge read when scraped. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => readonly { labels: Labels; value: number }[],
  ) {}

  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, ...this.read().map((e) => `${this.name}${labelText(e.labels)} ${num(e.value)}`)];
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

/**
 * The server's metrics. Gauges read live values from the callbacks given. The event loop's delay (sampled every
 * 10 ms since the server was created) says whether anything holds the HTTP thread: prom-client's names.
 */
export class ServerMetrics {
  readonly requests = new Counter('fgclip_http_requests_total', 'HTTP requests by route, method and status.');
  readonly latency = new Histogram('fgclip_http_request_duration_seconds', 'Time from request start to response end, by route and status.', LATENCY_BUCKETS);
  readonly batchSize = new Histogram('fgclip_batch_size', 'Items per model call (dynamic batching), by lane.', BATCH_BUCKETS);
  readonly batchDuration = new Histogram('fgclip_batch_duration_seconds', 'Time of one model call, by lane.', LATENCY_BUCKETS);
  readonly batchWait = new Histogram('fgclip_batch_wait_seconds', 'Time the oldest item of a batch waited in the queue, by lane.', LATENCY_BUCKETS);
  private readonly gauges: Gauge[];
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });

  constructor(queueDepth: () => readonly { lane: string; depth: number; running: number }[], inFlight: () => number) {
    this.loop.enable();
    const lag = (name: string, what: string, read: () => number) =>
      new Gauge(`nodejs_eventloop_lag_${name}_seconds`, `Event loop delay, ${what}, since the server started.`, () => [
        { labels: {}, value: this.loop.count > 0 ? read() / 1e9 : 0 },
      ]);
    this.gauges = [
      new Gauge('fgclip_queue_depth', 'Items waiting for a batch, by lane.', () => queueDepth().map((q) => ({ labels: { lane: q.lane }, value: q.depth }))),
      new Gauge('fgclip_batches_running', 'Model calls running now, by lane.', () => queueDepth().map((q) => ({ labels: { lane: q.lane }, value: q.running }))),
      new Gauge('fgclip_http_requests_in_flight', 'Requests being handled.', () => [{ labels: {}, value: inFlight() }]),
      new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => [{ labels: {}, value: process.memoryUsage.rss() }]),
      lag('p50', 'median', () => this.loop.percentile(50)),
      lag('p99', '99th percentile', () => this.loop.percentile(99)),
      lag('max', 'largest', () => this.loop.max),
    ];
  }

  /** Stops sampling the event loop delay. */
  close(): void {
    this.loop.disable();
  }

  render(): string {
    return [this.requests, this.latency, this.batchSize, this.batchDuration, this.batchWait, ...this.gauges].flatMap((m) => m.render()).join('\n') + '\n';
  }
}
