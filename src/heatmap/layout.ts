/**
 * Geometry of the figure: panels left to right, at most PANELS_PER_ROW per row; each panel is a title line over the
 * image area, with a vertical colorbar to its right whose top and bottom ends carry the max and min cosine.
 *
 *   ┌ margin ───────────────────────────────────────────┐
 *   │      title (centred over the image)               │
 *   │  ┌─────────────┐  ┌┐─ 0.312                       │
 *   │  │ image+heat  │  ││                               │
 *   │  └─────────────┘  └┘─ −0.045                      │
 *   └───────────────────────────────────────────────────┘
 */
import { atlasFont, measureAtlas } from './text.js';

const PANELS_PER_ROW = 3;
const MARGIN = 16;
const COL_GAP = 24;
const ROW_GAP = 16;
const TITLE_GAP = 8; // between the title's descent and the image
const BAR_GAP = 10; // image → colorbar
const BAR_W = 14;
const TICK = 4;
const LABEL_GAP = 3; // tick → label

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface PanelLayout {
  readonly image: Rect; // where the image and its overlay go
  readonly bar: Rect; // the colorbar's colour strip (top = max)
  readonly titleBaseline: number;
  readonly titleMaxWidth: number; // the title is centred over image.x .. image.x + titleMaxWidth
  readonly labelX: number; // left edge of the min/max labels
}

export interface FigureLayout {
  readonly width: number;
  readonly height: number;
  readonly panels: readonly PanelLayout[];
}

/** Image area of one panel: longest side = panelSize, aspect of the image (or of the grid when there is none). */
export function panelArea(aspectW: number, aspectH: number, panelSize: number): { width: number; height: number } {
  return aspectW >= aspectH
    ? { width: panelSize, height: Math.max(1, Math.round((panelSize * aspectH) / aspectW)) }
    : { width: Math.max(1, Math.round((panelSize * aspectW) / aspectH)), height: panelSize };
}

/** Lays out `count` panels whose image areas are width×height and whose widest colorbar label is `labels` wide. */
export function layoutFigure(count: number, area: { width: number; height: number }, labels: readonly string[]): FigureLayout {
  const title = atlasFont('title');
  const label = atlasFont('label');
  const labelW = Math.ceil(Math.max(0, ...labels.map((s) => measureAtlas(label, s))));
  const titleH = Math.ceil(title.ascent + title.descent) + TITLE_GAP;
  const halfLabel = Math.ceil(label.ascent / 2) + 1; // labels are centred on the bar ends and overhang by this
  const cellW = area.width + BAR_GAP + BAR_W + TICK + LABEL_GAP + labelW;
  const cellH = titleH + area.height + halfLabel;
  const cols = Math.min(count, PANELS_PER_ROW);
  const rows = Math.ceil(count / PANELS_PER_ROW);
  const panels: PanelLayout[] = [];
  for (let i = 0; i < count; i++) {
    const x = MARGIN + (i % PANELS_PER_ROW) * (cellW + COL_GAP);
    const y = MARGIN + Math.floor(i / PANELS_PER_ROW) * (cellH + ROW_GAP);
    const image = { x, y: y + titleH, width: area.width, height: area.height };
    const bar = { x: x + area.width + BAR_GAP, y: image.y, width: BAR_W, height: area.height };
    panels.push({
      image,
      bar,
      titleBaseline: y + Math.ceil(title.ascent),
      titleMaxWidth: area.width,
      labelX: bar.x + BAR_W + TICK + LABEL_GAP,
    });
  }
  return {
    width: 2 * MARGIN + cols * cellW + (cols - 1) * COL_GAP,
    height: 2 * MARGIN + rows * cellH + (rows - 1) * ROW_GAP,
    panels,
  };
}

export const TICK_LENGTH = TICK;
