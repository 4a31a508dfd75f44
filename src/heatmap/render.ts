/**
 * Renders dense-feature similarity maps (docs/model-spec.md §8 item 3, the model card's "dense feature effect display"): per text,
 * the g×g grid of patch·text cosines, bilinearly upsampled, coloured with viridis and blended over the photo, with a
 * title and a colorbar labelled with the min and max cosine. The grid covers the whole image (the model sees the
 * photo resized to its square input), so it is stretched over the displayed image whatever its aspect.
 */
import sharp from 'sharp';
import { FgClipError } from '../errors.js';
import { RgbCanvas, type Rgb } from './canvas.js';
import { type FigureLayout, layoutFigure, panelArea, TICK_LENGTH } from './layout.js';
import { atlasCovers, atlasFont, drawAtlas, drawBitmap, measureAtlas, sanitizeLine, systemTextLine, truncateAtlas } from './text.js';
import { upsampleBilinear } from './upsample.js';
import { VIRIDIS_LUT, viridisIndex } from './viridis.js';

export interface HeatmapPanel {
  text: string;
  similarity: Float32Array | number[]; // [gridH·gridW] cosines, row-major
}

export interface RenderOptions {
  gridH: number;
  gridW: number;
  panels: HeatmapPanel[];
  image?: { width: number; height: number; data: Uint8Array /* [height·width·3] HWC RGB */ };
  alpha?: number; // overlay opacity, default 0.55
  panelSize?: number; // longest side of each panel's image area in px, default 448
  scale?: 'per-panel' | 'shared'; // colour range: min..max of each panel (default) or across all panels
}

const DEFAULT_ALPHA = 0.55;
const DEFAULT_PANEL_SIZE = 448;
const PANEL_SIZE_RANGE = [64, 4096] as const;
const INK: Rgb = [34, 34, 34];
const FRAME: Rgb = [120, 120, 120];

const where = 'renderHeatmap';
const invalid = (what: string, hint = ''): FgClipError => new FgClipError('INPUT_INVALID', `${where}: ${what}${hint ? `. ${hint}` : ''}`);

interface Checked {
  readonly gridH: number;
  readonly gridW: number;
  readonly texts: readonly string[];
  readonly grids: readonly (Float32Array | number[])[];
  readonly ranges: readonly { lo: number; hi: number }[];
  readonly image?: { width: number; height: number; data: Uint8Array };
  readonly alpha: number;
  readonly panelSize: number;
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

function check(opts: RenderOptions): Checked {
  if (opts === null || typeof opts !== 'object') throw invalid(`options must be an object (got ${String(opts)})`);
  const { gridH, gridW, panels, image } = opts;
  if (!isPositiveInt(gridH) || !isPositiveInt(gridW)) {
    throw invalid(`gridH and gridW must be positive integers (got ${String(gridH)}×${String(gridW)})`);
  }
  if (!Array.isArray(panels) || panels.length === 0) {
    throw invalid(
      `panels must be a non-empty array (got ${Array.isArray(panels) ? 'an empty array' : typeof panels})`,
      'Pass one {text, similarity} per text.',
    );
  }
  const n = gridH * gridW;
  panels.forEach((p, i) => {
    if (p === null || typeof p !== 'object' || typeof p.text !== 'string') throw invalid(`panels[${i}].text must be a string`);
    const s = p.similarity;
    if (!(s instanceof Float32Array) && !Array.isArray(s)) {
      throw invalid(`panels[${i}].similarity must be a Float32Array or number[] (got ${s === null ? 'null' : typeof s})`);
    }
    if (s.length !== n) {
      throw invalid(
        `panels[${i}].similarity has the wrong size (expected gridH·gridW = ${gridH}·${gridW} = ${n}, got ${s.length})`,
        'The grid is the patch grid of the dense features, row-major.',
      );
    }
    for (let k = 0; k < n; k++) {
      const v = s[k];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw invalid(`panels[${i}].similarity[${k}] (row ${Math.floor(k / gridW)}, col ${k % gridW}) is not a finite number (got ${String(v)})`);
      }
    }
  });
  const alpha = opts.alpha ?? DEFAULT_ALPHA;
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) throw invalid(`alpha must be in [0, 1] (got ${String(alpha)})`);
  const panelSize = opts.panelSize ?? DEFAULT_PANEL_SIZE;
  if (!Number.isInteger(panelSize) || panelSize < PANEL_SIZE_RANGE[0] || panelSize > PANEL_SIZE_RANGE[1]) {
    throw invalid(`panelSize must be an integer in [${PANEL_SIZE_RANGE.join(', ')}] (got ${String(panelSize)})`);
  }
  const scale = opts.scale ?? 'per-panel';
  if (scale !== 'per-panel' && scale !== 'shared') throw invalid(`scale must be 'per-panel' or 'shared' (got ${JSON.stringify(scale)})`);
  if (image !== undefined) {
    if (image === null || typeof image !== 'object' || !isPositiveInt(image.width) || !isPositiveInt(image.height)) {
      throw invalid('image must be {width, height, data} with positive integer width and height');
    }
    const want = image.width * image.height * 3;
    if (!(image.data instanceof Uint8Array) || image.data.length !== want) {
      throw invalid(
        `image.data must be a Uint8Array of width·height·3 RGB bytes (expected ${want}, got ${image.data instanceof Uint8Array ? image.data.length : typeof image.data})`,
        "Decode with sharp(...).removeAlpha().raw() (use toColourspace('srgb') for grayscale).",
      );
    }
  }
  const grids = panels.map((p) => p.similarity);
  const own = grids.map((g) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let k = 0; k < n; k++) {
      lo = Math.min(lo, g[k]);
      hi = Math.max(hi, g[k]);
    }
    return { lo, hi };
  });
  const shared = { lo: Math.min(...own.map((r) => r.lo)), hi: Math.max(...own.map((r) => r.hi)) };
  return {
    gridH,
    gridW,
    texts: panels.map((p) => sanitizeLine(p.text)),
    grids,
    ranges: scale === 'shared' ? own.map(() => shared) : own,
    image,
    alpha,
    panelSize,
  };
}

/** Cosine label with enough decimals to tell lo from hi (3 to 6), and a typographic minus like matplotlib's. */
export function formatCosine(v: number, decimals: number): string {
  const s = v.toFixed(decimals);
  if (Number(s) === 0) return (0).toFixed(decimals);
  return s.startsWith('-') ? `\u2212${s.slice(1)}` : s;
}

/** 3 decimals, more (up to 6) when the range is so narrow that 3 would print lo and hi alike. */
export function decimalsFor({ lo, hi }: { lo: number; hi: number }): number {
  const span = hi - lo;
  return span > 0 ? Math.min(6, Math.max(3, Math.ceil(-Math.log10(span)) + 1)) : 3;
}

function plan(c: Checked): { layout: FigureLayout; labels: { hi: string; lo: string }[] } {
  const labels = c.ranges.map((r) => {
    const d = decimalsFor(r);
    return { hi: formatCosine(r.hi, d), lo: formatCosine(r.lo, d) };
  });
  const area = c.image ? panelArea(c.image.width, c.image.height, c.panelSize) : panelArea(c.gridW, c.gridH, c.panelSize);
  return {
    layout: layoutFigure(
      c.texts.length,
      area,
      labels.flatMap((l) => [l.hi, l.lo]),
    ),
    labels,
  };
}

/** Where renderHeatmap puts each panel's image, colorbar and labels (validates opts the same way). */
export function heatmapLayout(opts: RenderOptions): FigureLayout {
  return plan(check(opts)).layout;
}

async function resizedBackground(image: NonNullable<Checked['image']>, width: number, height: number): Promise<Uint8Array> {
  const raw = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  const out = await sharp(raw, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** One PNG with a panel per text; see RenderOptions. Throws FgClipError('INPUT_INVALID') on bad input. */
export async function renderHeatmap(opts: RenderOptions): Promise<Buffer> {
  const c = check(opts);
  const { layout, labels } = plan(c);
  const canvas = new RgbCanvas(layout.width, layout.height);
  const { width: pw, height: ph } = layout.panels[0].image;
  const background = c.image ? await resizedBackground(c.image, pw, ph) : null;
  const titleFont = atlasFont('title');
  const labelFont = atlasFont('label');

  for (let i = 0; i < layout.panels.length; i++) {
    const p = layout.panels[i];
    const { lo, hi } = c.ranges[i];
    const heat = upsampleBilinear(c.grids[i], c.gridH, c.gridW, ph, pw); // [ph·pw]
    const inv = hi > lo ? 1 / (hi - lo) : 0;
    for (let y = 0; y < ph; y++) {
      for (let x = 0; x < pw; x++) {
        const k = y * pw + x;
        const li = 3 * viridisIndex(inv ? (heat[k] - lo) * inv : 0.5);
        const o = 3 * ((p.image.y + y) * canvas.width + p.image.x + x);
        for (let ch = 0; ch < 3; ch++) {
          const col = VIRIDIS_LUT[li + ch];
          canvas.data[o + ch] = background ? Math.round((1 - c.alpha) * background[3 * k + ch] + c.alpha * col) : col;
        }
      }
    }
    canvas.strokeRectOutside(p.image.x, p.image.y, pw, ph, FRAME);

    // colorbar: top row = entry 255 (max), bottom row = entry 0 (min)
    for (let y = 0; y < p.bar.height; y++) {
      const t = p.bar.height > 1 ? (p.bar.height - 1 - y) / (p.bar.height - 1) : 1;
      const li = 3 * viridisIndex(t);
      canvas.fillRect(p.bar.x, p.bar.y + y, p.bar.width, 1, [VIRIDIS_LUT[li], VIRIDIS_LUT[li + 1], VIRIDIS_LUT[li + 2]]);
    }
    canvas.strokeRectOutside(p.bar.x, p.bar.y, p.bar.width, p.bar.height, FRAME);
    const mid = Math.round(labelFont.ascent * 0.36); // baseline offset that centres digits on a tick
    for (const [text, ty] of [
      [labels[i].hi, p.bar.y],
      [labels[i].lo, p.bar.y + p.bar.height - 1],
    ] as const) {
      canvas.fillRect(p.bar.x + p.bar.width, ty, TICK_LENGTH, 1, FRAME);
      drawAtlas(canvas, labelFont, text, p.labelX, ty + mid, INK);
    }

    const title = c.texts[i];
    if (atlasCovers(titleFont, title)) {
      const s = truncateAtlas(titleFont, title, p.titleMaxWidth);
      const x = p.image.x + Math.max(0, (p.titleMaxWidth - measureAtlas(titleFont, s)) / 2);
      drawAtlas(canvas, titleFont, s, x, p.titleBaseline, INK);
    } else {
      const b = await systemTextLine(title, titleFont.sizePx, p.titleMaxWidth);
      if (b) {
        const x = p.image.x + Math.max(0, (p.titleMaxWidth - b.w) / 2);
        const y = p.titleBaseline - titleFont.ascent + Math.max(0, (titleFont.ascent + titleFont.descent - b.h) / 2);
        drawBitmap(canvas, b, x, y, INK);
      }
    }
  }
  const raw = Buffer.from(canvas.data.buffer, canvas.data.byteOffset, canvas.data.byteLength);
  return sharp(raw, { raw: { width: canvas.width, height: canvas.height, channels: 3 } })
    .png()
    .toBuffer();
}
