/**
 * FG-CLIP 2 text tower, fp32 against int8 in ONE process with the runs interleaved (fp32, int8, fp32, int8, …), so
 * both see the same machine load: `node --import tsx bench/fgclip2-text-int8.ts [--runs N] [--graph-cache DIR|--no-cache]`.
 * The synthetic fg-clip2-base checkpoint of bench/fgclip2.ts; 8 captions at 64 (short walk) and 196 (long walk)
 * tokens. Times `runIds` (the graph alone, token rows already gathered), `encodeTexts` (tokenize + gather the token
 * rows from model.safetensors + graph), and the row gather alone. Prints a table and JSON.
 *
 * Why it exists: `npm run bench -- --fgclip2-only` measures each dtype in its own process, one after the other; on a
 * shared, loaded machine the two processes see different loads, and the text figures (≈0.5 s per run) are the most
 * exposed. This measures the ratio where the load is shared.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureFgclip2Base } from './fgclip2.js';
import { median } from './stats.js';

export interface TextInt8Figures {
  readonly runs: number;
  readonly graphCache: boolean;
  /** the vision tower ran first (256/576/1024 patches), as in the bench's child */
  readonly visionFirst: boolean;
  /** median ms per measurement name, e.g. "fp32 short runIds" */
  readonly medianMs: Record<string, number>;
  /** int8 / fp32 speed (fp32 ms / int8 ms) per walk and measurement */
  readonly int8Speedup: Record<string, number>;
}

export async function benchTextInt8(opts: { runs: number; graphCache: string | false; visionFirst?: boolean }): Promise<TextInt8Figures> {
  const { Fgclip2Model } = await import('../src/families/fgclip2/model.js');
  const { nodePorts } = await import('../src/platform/node/ports.js');
  const { dir } = ensureFgclip2Base();
  const models = {
    fp32: await Fgclip2Model.load(nodePorts(dir, { graphCache: opts.graphCache }), { threads: 2, dtype: 'fp32' }),
    int8: await Fgclip2Model.load(nodePorts(dir, { graphCache: opts.graphCache }), { threads: 2, dtype: 'int8' }),
  };
  if (opts.visionFirst) {
    // as `npm run bench -- --fgclip2-only` does before its text figures: images at 256, 576 and 1024 patches
    const img = { width: 1024, height: 768, data: new Uint8Array(1024 * 768 * 3).map((_, i) => (i * 2654435761) >>> 24) };
    for (const m of Object.values(models)) for (const patches of [256, 576, 1024]) await m.encodePreprocessed([m.preprocess(img, { maxNumPatches: patches })]);
  }
  const captions = Array.from({ length: 8 }, (_, i) => `a photo of ${i} cats and ${i + 1} dogs sitting on a red sofa near the window`);
  const times: Record<string, number[]> = {};
  const time = async (k: string, fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    (times[k] ??= []).push(performance.now() - t);
  };
  for (const walk of ['short', 'long'] as const) {
    const L = walk === 'short' ? 64 : 196;
    const ids = models.fp32.tokenizer.encodeBatch(captions, { maxLength: L }).map((e) => e.ids);
    for (const m of Object.values(models)) await m.runIds(ids, walk); // warm-up (also fills the token-row cache)
    for (let r = 0; r < opts.runs; r++) {
      for (const d of ['fp32', 'int8'] as const) {
        await time(`${d} ${walk} runIds`, () => models[d].runIds(ids, walk));
        await time(`${d} ${walk} encodeTexts`, () => models[d].encodeTexts(captions, { walk }));
      }
      await time(`gather ${walk}`, async () => {
        const D = models.fp32.embeddingDim;
        const buf = new Float32Array(8 * L * D);
        ids.forEach((row, b) => models.fp32.tokens.gather(row, buf, b * L * D));
      });
    }
  }
  for (const m of Object.values(models)) await m.dispose();
  const medianMs = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const int8Speedup: Record<string, number> = {};
  for (const walk of ['short', 'long'])
    for (const what of ['runIds', 'encodeTexts']) int8Speedup[`${walk} ${what}`] = medianMs[`fp32 ${walk} ${what}`] / medianMs[`int8 ${walk} ${what}`];
  return { runs: opts.runs, graphCache: opts.graphCache !== false, visionFirst: opts.visionFirst === true, medianMs, int8Speedup };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const at = (f: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined);
  const runs = Number(at('--runs') ?? 5);
  const own = argv.includes('--no-cache') || at('--graph-cache') ? undefined : mkdtempSync(join(tmpdir(), 'fgclip2-text-int8-'));
  const graphCache = argv.includes('--no-cache') ? false : (at('--graph-cache') ?? (own as string));
  try {
    const r = await benchTextInt8({ runs, graphCache, visionFirst: argv.includes('--vision-first') });
    for (const [k, v] of Object.entries(r.medianMs)) console.log(`${k.padEnd(26)} ${v.toFixed(1)} ms`);
    for (const [k, v] of Object.entries(r.int8Speedup)) console.log(`int8 speed-up ${k.padEnd(20)} ×${v.toFixed(2)}`);
    console.log(JSON.stringify(r));
  } finally {
    if (own) rmSync(own, { recursive: true, force: true });
  }
}
