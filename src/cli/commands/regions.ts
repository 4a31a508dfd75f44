/** `fgclip regions`: region features for pixel boxes, or (with --labels) labels ranked per box, FG-OVD style. */
import { readFileSync } from 'node:fs';
import { FgClipError } from '../../errors.js';
import type { PixelBox } from '../../model/boxes.js';
import { classifyRegions } from '../../tasks/regions.js';
import { flag, fmtVec, MODEL_OPTIONS, parse, parseBox, printJson, str, strs, UsageError, withModel, type Io } from '../args.js';
import { readLabels } from '../labels.js';

export async function regionsCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('regions', argv, {
    ...MODEL_OPTIONS,
    image: { type: 'string', short: 'i' },
    box: { type: 'string', multiple: true },
    boxes: { type: 'string' },
    'box-format': { type: 'string' },
    labels: { type: 'string' },
    'labels-file': { type: 'string' },
    raw: { type: 'boolean' },
  });
  const image = str(values, 'image') ?? positionals[0];
  if (!image) throw new UsageError('regions: --image FILE (or IMAGE as the first argument) is required');
  const boxes: PixelBox[] = strs(values, 'box').map(parseBox);
  const file = str(values, 'boxes');
  if (file) boxes.push(...readBoxesFile(file, str(values, 'box-format') ?? 'xyxy'));
  if (boxes.length === 0) throw new UsageError('regions: give at least one --box x1,y1,x2,y2 (pixels) or --boxes FILE');
  const labels = readLabels(values);
  return withModel(values, 'regions', io, async (m) => {
    if (labels) {
      const regions = await classifyRegions(m, image, boxes, labels);
      if (flag(values, 'json')) printJson(io, { regions });
      else
        for (const r of regions)
          io.stdout.write(
            `box [${r.box.join(', ')}]\n${r.labels.map((l) => `  ${(l.probability * 100).toFixed(2).padStart(6)}%  cos ${l.cosine.toFixed(4)}  ${l.label}`).join('\n')}\n`,
          );
      return 0;
    }
    const [r] = await m.encodeImages([image], { boxes: [boxes], normalize: !flag(values, 'raw') });
    const features = r.regions ?? [];
    if (flag(values, 'json')) printJson(io, { features });
    else features.forEach((f, i) => io.stdout.write(`box [${boxes[i].join(', ')}]: ${fmtVec(f)}\n`));
    return 0;
  });
}

/**
 * A boxes file: JSON — an array of [x1,y1,x2,y2] (or [x,y,w,h] with --box-format xywh, COCO's convention), or of
 * objects with a `bbox` field — or text with one box per line, numbers separated by commas or spaces.
 */
export function readBoxesFile(path: string, format: string): PixelBox[] {
  if (format !== 'xyxy' && format !== 'xywh') throw new UsageError(`--box-format: expected xyxy or xywh (got ${JSON.stringify(format)})`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `--boxes ${path}: cannot read the file (${(e as Error).message})`);
  }
  let rows: unknown[];
  const t = text.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      const j = JSON.parse(t) as unknown;
      rows = Array.isArray(j) ? j : [j];
    } catch (e) {
      throw new FgClipError('INPUT_INVALID', `--boxes ${path}: invalid JSON (${(e as Error).message})`);
    }
  } else {
    rows = t
      .split(/\r?\n/)
      .filter((l) => l.trim() && !l.trim().startsWith('#'))
      .map((l) =>
        l
          .trim()
          .split(/[\s,]+/)
          .map(Number),
      );
  }
  return rows.map((r, i) => {
    const v = Array.isArray(r) ? r : typeof r === 'object' && r && 'bbox' in r ? (r as { bbox: unknown }).bbox : undefined;
    if (!Array.isArray(v) || v.length !== 4 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new FgClipError('BOX_INVALID', `--boxes ${path}: entry ${i + 1} is not four numbers (got ${JSON.stringify(r)})`);
    }
    const [a, b, c, d] = v as number[];
    return format === 'xywh' ? ([a, b, a + c, b + d] as const) : ([a, b, c, d] as const);
  });
}
