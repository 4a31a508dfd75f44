/**
 * Where a training step's time goes, op by op: profiles the bench's training step (fg-clip-base shapes from
 * bench/synthetic.ts, the bench's batch from bench/train-batch.ts) with ONNX Runtime's profiler, both sessions the
 * bench times: the forward-only `towers` graph (`engine.embed`) and the single-pass step graph (`engine.compute`).
 * Kernel time of the step is split by node name into forward, backward (`grad*` nodes the tape emitted), recomputation
 * (`*.recompute`, `*.grad` of the composite activation) and ordering (`order_*`), and per op type within each.
 *
 *   node --import tsx scripts/profile-train-ops.ts [batch=8] [stage=1] [threads=2] [layers=12]
 *
 * `layers` < 12 builds the same shapes with fewer encoder layers per tower (quicker on a loaded machine; the
 * per-layer split is what matters).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { benchCacheDir, ensureCheckpoint, SHAPES } from '../bench/synthetic.js';
import { batchOf } from '../bench/train-batch.js';
import { createGradientEngine } from '../src/train/engine.js';
import { ClipTokenizer } from '../src/tokenizer/index.js';
import { nodeFolder } from '../src/platform/node/folder.js';

const B = Number(process.argv[2] ?? 8);
const stage = Number(process.argv[3] ?? 1) as 1 | 2;
const threads = Number(process.argv[4] ?? 2);
const layers = Number(process.argv[5] ?? 12);
const dir = mkdtempSync(join(tmpdir(), 'fgclip-train-ops-'));
let sessionNo = 0;
const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (
  m: Uint8Array,
  o: ort.InferenceSession.SessionOptions,
) => Promise<ort.InferenceSession>;
(ort.InferenceSession as unknown as { create: typeof create }).create = (m, o) =>
  create(m, { ...o, enableProfiling: true, profileFilePrefix: join(dir, `s${sessionNo++}`) });

const b = SHAPES.base;
const shape = { ...b, vision: { ...b.vision, layers }, text: { ...b.text, layers } };
const ck = ensureCheckpoint(layers === 12 ? 'base' : `base-${layers}l`, shape, benchCacheDir(), (m) => process.stderr.write(`${m}\n`));
const engine = await createGradientEngine(ck.dir, { threads });
const tok = await ClipTokenizer.fromFolder(nodeFolder(ck.dir));
const S = 224;
const batch = batchOf(tok, B, S, stage);
const params = engine.initialParams;
let t0 = performance.now();
await engine.prepare(batch, stage);
process.stderr.write(`compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
const wall = { embed: [] as number[], step: [] as number[] };
for (let i = 0; i < 2; i++) {
  t0 = performance.now();
  await engine.embed(params, batch, stage);
  wall.embed.push(performance.now() - t0);
  t0 = performance.now();
  await engine.compute(params, batch, { stage });
  wall.step.push(performance.now() - t0);
}
await engine.dispose();

interface Ev {
  name: string;
  cat?: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}
type Table = Map<string, { us: number; n: number }>;
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
function lastRun(file: string): { run: Ev; nodes: Ev[] } {
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Ev[];
  const run = events.filter((e) => e.name === 'model_run').pop()!;
  return { run, nodes: events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= run.ts && e.ts <= run.ts + run.dur) };
}
const part = (name: string) =>
  name.includes('order_')
    ? 'order'
    : name.includes('.recompute') || /activation_fn\.grad/.test(name)
      ? 'recompute'
      : name.includes('grad')
        ? 'backward'
        : 'forward';
const add = (tb: Table, k: string, us: number) => {
  const e = tb.get(k) ?? { us: 0, n: 0 };
  e.us += us;
  e.n++;
  tb.set(k, e);
};
const fmt = (tb: Table, total: number) =>
  [...tb]
    .sort((a, b) => b[1].us - a[1].us)
    .filter(([, v]) => v.us > total * 0.002)
    .map(([k, v]) => `  ${k.padEnd(28)} ${(v.us / 1000).toFixed(0).padStart(8)} ms ${((100 * v.us) / total).toFixed(1).padStart(5)}%  (${v.n} nodes)`)
    .join('\n');
// sessions: s0 = step (full), s1 = towers (prepare's order)
for (const [k, f] of files.entries()) {
  const { run, nodes } = lastRun(f);
  const parts = new Map<string, Table>();
  const sums = new Map<string, number>();
  let total = 0;
  for (const e of nodes) {
    const p = part(e.name);
    const op = e.args?.op_name ?? '?';
    if (!parts.has(p)) parts.set(p, new Map());
    add(parts.get(p)!, op, e.dur);
    sums.set(p, (sums.get(p) ?? 0) + e.dur);
    total += e.dur;
  }
  process.stdout.write(`\n== session ${k} (${f}): model_run ${(run.dur / 1000).toFixed(0)} ms, kernels ${(total / 1000).toFixed(0)} ms\n`);
  for (const [p, tb] of parts) process.stdout.write(`-- ${p}: ${((sums.get(p) ?? 0) / 1000).toFixed(0)} ms\n${fmt(tb, total)}\n`);
}
process.stdout.write(
  `\nwall: embed ${wall.embed.map((x) => x.toFixed(0)).join(', ')} ms; step ${wall.step.map((x) => x.toFixed(0)).join(', ')} ms (batch ${B}, stage ${stage}, ${threads} threads, ${layers} layers; load ${(await import('node:os')).loadavg()[0].toFixed(1)})\n`,
);
