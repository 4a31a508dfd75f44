/** Heatmap rendering for dense-feature similarities (docs/model-spec.md §8 item 3). */
export { renderHeatmap, heatmapLayout, formatCosine, type HeatmapPanel, type RenderOptions } from './render.js';
export type { FigureLayout, PanelLayout, Rect } from './layout.js';
export { viridis } from './viridis.js';
export { upsampleBilinear } from './upsample.js';
