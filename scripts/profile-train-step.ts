/**
 * Profiles one single-pass training step (forward + loss + backward in one ONNX graph) of fg-clip-base shapes with
 * ONNX Runtime's profiler and splits kernel time into forward and backward (backward = the nodes the autodiff tape
 * emitted, named `grad_*`). Uses the bench's synthetic checkpoint (bench/synthetic.ts).
 *
 *   node --import tsx scripts/profile-train-step.ts [batch=2] [stage=2] [threads=2]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { benchCacheDir, ensureSyntheticCheckpoint } from '../bench/synthetic.js';
import { createGradientEngine } from '../src/train/engine.js';
import type { NormalizedBox, TrainBatch } from '../src/train/types.js';

const B = Number(process.argv[2] ?? 2);
const stage = Number(process.argv[3] ?? 2) as 1 | 2;
const threads = Number(process.argv[4] ?? 2);
const dir = mkdtempSync(join(tmpdir(), 'fgclip-train-profile-'));
const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (
  m: Uint8Array,
  o: ort.InferenceSession.SessionOptions,
) => Promise<ort.InferenceSession>;
(ort.InferenceSession as unknown as { create: typeof create }).create = (m, o) =>
  create(m, { ...o, enableProfiling: true, profileFilePrefix: join(dir, 'step') });

const ck = ensureSyntheticCheckpoint('base', benchCacheDir(), (m) => process.stderr.write(`${m}\n`));
const engine = await createGradientEngine(ck.dir, { threads });
let seed = 1;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const ids = (n: number, len: number) => [49406, ...Array.from({ length: n }, () => 300 + Math.floor(rnd() * 40000)), ...Array<number>(len - n - 1).fill(49407)];
const boxes: NormalizedBox[][] = Array.from({ length: B }, () =>
  Array.from({ length: 4 }, () => {
    const x = rnd() * 0.5;
    const y = rnd() * 0.5;
    return [x, y, x + 0.3, y + 0.4] as const;
  }),
);
const hard = boxes.map((b, i) => (i % 2 ? [b[0]] : [b[0], b[1]]));
const batch: TrainBatch = {
  size: B,
  imageSize: 224,
  pixels: Float32Array.from({ length: B * 3 * 224 * 224 }, () => rnd() * 2 - 1),
  textLong: Array.from({ length: B }, () => ids(120, 248)),
  textShort: Array.from({ length: B }, () => ids(12, 77)),
  boxes,
  boxTexts: boxes.flat().map(() => ids(6, 77)),
  hardBoxes: hard,
  hardTexts: hard.flat().flatMap(() => Array.from({ length: 11 }, () => ids(6, 77))),
};
await engine.compute(engine.initialParams, batch, { stage }); // warm-up (session creation)
await engine.compute(engine.initialParams, batch, { stage });
await engine.dispose();

interface Ev {
  name: string;
  cat?: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}
const file = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .pop()!;
const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Ev[];
const run = events.filter((e) => e.name === 'model_run').pop()!;
let fwd = 0;
let bwd = 0;
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < run.ts || e.ts > run.ts + run.dur) continue;
  if (e.name.includes('grad')) bwd += e.dur;
  else fwd += e.dur;
}
process.stdout.write(
  `batch ${B}, stage ${stage}, ${threads} threads: step ${(run.dur / 1000).toFixed(0)} ms; kernels forward ${(fwd / 1000).toFixed(0)} ms, backward ${(bwd / 1000).toFixed(0)} ms, backward/forward ${(bwd / fwd).toFixed(2)}\n`,
);
