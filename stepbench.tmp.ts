import { createGradientEngine } from './src/train/engine.js';
import { ensureSyntheticCheckpoint } from './bench/synthetic.js';
import type { TrainBatch, NormalizedBox } from './src/train/types.js';
const ck = ensureSyntheticCheckpoint('base', '/tmp/fgclip-bench', (m) => console.error(m));
const B = 8;
const stage = Number(process.argv[2] ?? 2) as 1 | 2;
const e = await createGradientEngine(ck.dir, { threads: 2 });
let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const ids = (n: number, len: number) => { const r = [49406]; for (let i = 0; i < n; i++) r.push(300 + Math.floor(rnd() * 40000)); r.push(49407); while (r.length < len) r.push(49407); return r; };
const boxes: NormalizedBox[][] = Array.from({ length: B }, () => Array.from({ length: 4 }, () => { const x = rnd() * 0.5, y = rnd() * 0.5; return [x, y, x + 0.3, y + 0.4] as const; }));
const hard: NormalizedBox[][] = boxes.map((b, i) => (i % 2 ? [b[0]] : [b[0], b[1]]));
const batch: TrainBatch = {
  size: B, imageSize: 224, pixels: Float32Array.from({ length: B * 3 * 224 * 224 }, () => rnd() * 2 - 1),
  textLong: Array.from({ length: B }, () => ids(120, 248)), textShort: Array.from({ length: B }, () => ids(12, 77)),
  boxes, boxTexts: boxes.flat().map(() => ids(6, 77)), hardBoxes: hard, hardTexts: hard.flat().flatMap(() => Array.from({ length: 11 }, () => ids(6, 77))),
};
const params = e.initialParams;
const t0 = performance.now();
await e.compute(params, batch, { stage });
console.log('first step (incl. session creation)', (performance.now() - t0).toFixed(0));
await e.embed(params, batch, stage);
for (let i = 0; i < Number(process.argv[3] ?? 2); i++) {
  let t = performance.now();
  await e.embed(params, batch, stage);
  const f = performance.now() - t;
  t = performance.now();
  await e.compute(params, batch, { stage });
  const s = performance.now() - t;
  console.log(`stage ${stage}: forward ${f.toFixed(0)} ms, step ${s.toFixed(0)} ms, backward/forward ${((s - f) / f).toFixed(2)}, rss ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`);
}
await e.dispose();
