/**
 * `fgclip heatmap IMAGE --text T… --out FILE.png`: per text, the patch·text cosine map (tasks/heatmap.ts) drawn
 * over the image. Output contract (--json): {"grid": [h, w], "texts": [...], "similarity": [[h*w cosines] per text]}.
 */
import { writeFileSync } from 'node:fs';
import { FgClipError } from '../../errors.js';
import { renderHeatmap } from '../../heatmap/index.js';
import { heatmap } from '../../tasks/heatmap.js';
import { flag, MODEL_OPTIONS, parse, printJson, str, strs, UsageError, withModel, type Io } from '../args.js';
import { notices } from './classify.js';

export async function heatmapCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('heatmap', argv, {
    ...MODEL_OPTIONS,
    image: { type: 'string', short: 'i' },
    text: { type: 'string', short: 't', multiple: true },
    out: { type: 'string', short: 'o' },
    'shared-scale': { type: 'boolean' },
  });
  const image = str(values, 'image') ?? positionals[0];
  if (!image) throw new UsageError('heatmap: IMAGE (or --image FILE) is required');
  if (positionals.length > (str(values, 'image') ? 0 : 1))
    throw new UsageError(`heatmap: one image at a time (got ${JSON.stringify(positionals)}); give texts with --text`);
  const texts = strs(values, 'text');
  if (texts.length === 0) throw new UsageError('heatmap: give at least one --text T (repeatable)');
  const out = str(values, 'out');
  const json = flag(values, 'json');
  if (!out && !json) throw new UsageError('heatmap: give --out FILE.png (the picture) and/or --json (the numbers)');
  const n = notices(values, io, 'heatmap');
  return withModel(values, 'heatmap', io, async (m) => {
    const rgb = await m.decode(image);
    const h = await heatmap(m, rgb, texts, { onWarning: n.onWarning });
    if (out) {
      const png = await renderHeatmap({
        gridH: h.grid[0],
        gridW: h.grid[1],
        panels: h.texts.map((text, i) => ({ text, similarity: h.similarity[i] })),
        image: rgb,
        scale: flag(values, 'shared-scale') ? 'shared' : 'per-panel',
      });
      try {
        writeFileSync(out, png);
      } catch (e) {
        throw new FgClipError('INPUT_INVALID', `--out ${out}: cannot write the picture (${(e as Error).message})`, { cause: e });
      }
    }
    if (json) printJson(io, { grid: h.grid, texts: h.texts, similarity: h.similarity });
    else {
      h.texts.forEach((t, i) => {
        const s = h.similarity[i];
        io.stdout.write(`${JSON.stringify(t)}: ${h.grid[0]}×${h.grid[1]} cosines from ${Math.min(...s).toFixed(4)} to ${Math.max(...s).toFixed(4)}\n`);
      });
      io.stdout.write(`wrote ${out}\n`);
    }
    return 0;
  });
}
