/**
 * Where a training step's time and memory go: builds one training graph of fg-clip-base shapes with a chosen number
 * of encoder layers per tower (bench/synthetic.ts checkpoints), creates its ONNX Runtime session with chosen session
 * options, runs it, and prints one JSON line: graph size (nodes, protobuf bytes), build / compile / run times, and
 * the process's RSS after each phase and its peak (VmHWM). Run one configuration per process so the peaks are its own.
 *
 *   node --import tsx scripts/profile-train-memory.ts '{"layers":2,"batch":8,"stage":2,"kind":"full"}'
 *
 * Fields (all optional): layers (per tower, default 12), batch (8), stage (2), kind (full | towers | towers_backward),
 * threads (2), opt (all | extended | basic | disabled: ORT graph optimisation level), arena (CPU memory arena, true),
 * pattern (memory pattern, false), runs (2).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { EXTERNAL_DATA_NAME } from '../src/graph/onnx-builder.js';
import { ort } from '../src/runtime/session.js';
import { OrtGradientEngine } from '../src/train/engine.js';
import { buildFullGraph, buildTowerGraph, type GraphVariant } from '../src/train/graph.js';
import { ClipTokenizer } from '../src/tokenizer/index.js';
import { nodeFolder } from '../src/platform/node/folder.js';
import { batchOf } from '../bench/train-batch.js';
import { benchCacheDir, ensureCheckpoint, SHAPES } from '../bench/synthetic.js';

interface Req {
  layers?: number;
  batch?: number;
  stage?: 1 | 2;
  kind?: 'full' | 'towers' | 'towers_backward' | 'engine';
  threads?: number;
  opt?: 'all' | 'extended' | 'basic' | 'disabled';
  arena?: boolean;
  pattern?: boolean;
  runs?: number;
  /** ORT profiler: kernel time by op type, forward vs backward (grad_* nodes), of the last run */
  profile?: boolean;
  /** write ONNX Runtime's optimized graph here (with the profile: what is alive at the peak) */
  dump?: string;
}

const req = JSON.parse(process.argv[2] ?? '{}') as Req;
const L = req.layers ?? 12;
const B = req.batch ?? 8;
const stage = req.stage ?? 2;
const kind = req.kind ?? 'full';
const mib = (kB: number) => Math.round(kB / 1024);
function mem(): { rss: number; hwm: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  return { rss: mib(Number(/VmRSS:\s+(\d+)/.exec(s)![1])), hwm: mib(Number(/VmHWM:\s+(\d+)/.exec(s)![1])) };
}

const base = SHAPES.base;
const shape = { ...base, vision: { ...base.vision, layers: L }, text: { ...base.text, layers: L } };
const ck = ensureCheckpoint(L === 12 ? 'base' : `base-L${L}`, shape, benchCacheDir(), (m) => process.stderr.write(`${m}\n`));
const config = await loadConfig(ck.dir);
const tok = await ClipTokenizer.fromFolder(nodeFolder(ck.dir));
const batch = batchOf(tok, B, base.imageSize, stage);
const engine = new OrtGradientEngine(config, { threads: req.threads ?? 2 });
// random parameters of the right sizes (the values do not change time or memory)
const params = new Map<string, Float32Array>();
for (const [name, dims] of engine.parameters)
  params.set(
    name,
    Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i) * 0.02),
  );
const out: Record<string, unknown> = {
  layers: L,
  batch: B,
  stage,
  kind,
  opt: req.opt ?? 'all',
  arena: req.arena ?? true,
  pattern: req.pattern ?? false,
  afterParams: mem(),
};

if (kind === 'engine') {
  // the engine as the bench and the trainer use it
  for (let i = 0; i < (req.runs ?? 2); i++) {
    const t = performance.now();
    await engine.compute(params, batch, { stage });
    out[`run${i}Ms`] = Math.round(performance.now() - t);
    out[`afterRun${i}`] = mem();
  }
} else {
  const internal = engine as unknown as {
    chunkFeeds(
      b: typeof batch,
      i0: number,
      i1: number,
      s: 1 | 2,
    ): { feeds: Record<string, ort.Tensor>; variant: GraphVariant; images: number; boxes: number; hard: number };
  };
  const c = internal.chunkFeeds(batch, 0, B, stage);
  let t = performance.now();
  const g =
    kind === 'full' ? buildFullGraph(config, engine.parameters, c.variant) : buildTowerGraph(config, engine.parameters, c.variant, kind === 'towers_backward');
  out.buildMs = Math.round(performance.now() - t);
  out.modelBytes = g.built.model.byteLength;
  out.afterBuild = mem();
  const feeds: Record<string, ort.Tensor> = { ...c.feeds };
  if (kind === 'full' && (c.variant.boxes || c.variant.hard))
    feeds.short_split = new ort.Tensor('int64', BigInt64Array.from([c.images, c.boxes, c.hard * 11].map(BigInt)), [3]);
  if (kind === 'towers_backward') {
    const P = config.projection_dim;
    const rows = {
      image_embeds: c.images,
      long_text_embeds: c.images,
      short_text_embeds: c.images + c.boxes + 11 * c.hard,
      box_region_embeds: c.boxes,
      hard_region_embeds: c.hard,
    };
    for (const n of g.embeds) {
      const r = rows[n as keyof typeof rows];
      feeds[`seed:${n}`] = new ort.Tensor(
        'float32',
        Float32Array.from({ length: r * P }, (_, i) => Math.cos(i) * 1e-3),
        [r, P],
      );
    }
  }
  for (const name of g.params) feeds[name] = new ort.Tensor('float32', params.get(name)!, engine.parameters.get(name) as number[]);
  const profDir = mkdtempSync(join(tmpdir(), 'fgclip-train-mem-'));
  t = performance.now();
  const session = await ort.InferenceSession.create(g.built.model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: req.opt ?? 'all',
    intraOpNumThreads: req.threads ?? 2,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: req.arena ?? true,
    enableMemPattern: req.pattern ?? false,
    logSeverityLevel: 3,
    ...(req.dump ? { optimizedModelFilePath: req.dump } : {}),
    ...(req.profile ? { enableProfiling: true, profileFilePrefix: join(profDir, 'p') } : {}),
    externalData: [{ path: EXTERNAL_DATA_NAME, data: g.built.weights ?? new Uint8Array(1) }],
  });
  out.compileMs = Math.round(performance.now() - t);
  out.afterCompile = mem();
  for (let i = 0; i < (req.runs ?? 2); i++) {
    t = performance.now();
    await session.run(feeds);
    out[`run${i}Ms`] = Math.round(performance.now() - t);
    out[`afterRun${i}`] = mem();
  }
  if (req.profile) {
    session.endProfiling();
    const file = join(
      profDir,
      readdirSync(profDir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .pop()!,
    );
    const events = JSON.parse(readFileSync(file, 'utf8')) as { name: string; cat?: string; ts: number; dur: number; args?: { op_name?: string } }[];
    const run = events.filter((e) => e.name === 'model_run').pop()!;
    const byOp = new Map<string, number>();
    let fwd = 0;
    let bwd = 0;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < run.ts || e.ts > run.ts + run.dur) continue;
      const back = e.name.includes('grad');
      if (back) bwd += e.dur;
      else fwd += e.dur;
      const k = `${back ? 'bwd' : 'fwd'}:${e.args?.op_name ?? '?'}`;
      byOp.set(k, (byOp.get(k) ?? 0) + e.dur);
    }
    out.kernelFwdMs = Math.round(fwd / 1000);
    out.kernelBwdMs = Math.round(bwd / 1000);
    out.byOpMs = Object.fromEntries(
      [...byOp]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 25)
        .map(([k, v]) => [k, Math.round(v / 1000)]),
    );
  }
  await session.release();
}
await engine.dispose();
process.stdout.write(`${JSON.stringify(out)}\n`);
