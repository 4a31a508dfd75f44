/** FG-CLIP v1's vision graph: the CLIP vision tower with global and dense outputs (graph/clip-vision.ts). */
import type { FgClipConfig } from '../../config/types.js';
import type { WeightSource } from '../../graph/blocks.js';
import { buildClipVisionGraph, type VisionGraphOptions } from '../../graph/clip-vision.js';
import type { BuiltModel } from '../../graph/onnx-builder.js';

export { DENSE_EMBEDS, IMAGE_EMBEDS, REGION_BATCH_INDEX, REGION_BOXES, REGION_EMBEDS, VISION_INPUT, type VisionGraphOptions } from '../../graph/clip-vision.js';

export function buildVisionGraph(config: FgClipConfig, w: WeightSource, opts: VisionGraphOptions = {}): BuiltModel {
  return buildClipVisionGraph('fgclip_vision', config, w, opts);
}
