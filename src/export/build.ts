/**
 * Builds the two exported graphs and the text position tables from a checkpoint's weights. Platform-free: the
 * Node exporter streams the weights into files, the browser into OPFS files; the caller's `WeightSource` should
 * consume tensors (drop each once read) so the checkpoint and the graph weights are never both held in full.
 */
import type { FgClipConfig, PreprocessConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import type { LinearDtype, WeightSource } from '../graph/blocks.js';
import type { BuiltModel, WeightSink } from '../graph/onnx-builder.js';
import { buildTextGraph } from '../families/fgclip/text-graph.js';
import { buildVisionGraph } from '../families/fgclip/vision-graph.js';
import { readOutsideGraphs } from '../families/fgclip/tensors.js';
import { textSpec, visionSpec, type ExportManifest, type FileSpec } from './manifest.js';
import { EXPORT_FORMAT, EXPORT_VERSION, POSITIONS_FILE } from './manifest.js';

export interface BuiltExport {
  readonly text: BuiltModel;
  readonly vision: BuiltModel;
  /** short table [77, D] followed by the long table [248, D], float32 */
  readonly positions: Float32Array;
  readonly logitScaleLog: number;
}

/**
 * Text first (its tensors are then dropped), then vision. Only the checkpoint's native resolution is exported
 * (interpolated position tables are a load-time option of the Node library).
 */
export function buildExportGraphs(
  config: FgClipConfig,
  w: WeightSource,
  dtype: LinearDtype,
  sinks: { text?: WeightSink; vision?: WeightSink } = {},
): BuiltExport {
  if (dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'int8')
    throw new FgClipError('INPUT_INVALID', `dtype: expected fp32, fp16 or int8 (got ${String(dtype)})`);
  const { tables, logitScaleLog } = readOutsideGraphs(config, w);
  const positions = new Float32Array(tables.short.length + tables.long.length);
  positions.set(tables.short);
  positions.set(tables.long, tables.short.length);
  const text = buildTextGraph(config, w, { dtype, sink: sinks.text });
  const vision = buildVisionGraph(config, w, { dtype, sink: sinks.vision });
  return { text, vision, positions, logitScaleLog };
}

/** The manifest for a built export; `files` holds every other file of the folder with its size and sha256. */
export function exportManifest(
  config: FgClipConfig,
  pre: PreprocessConfig,
  built: { logitScaleLog: number },
  parts: { dtype: LinearDtype; source: { model: string; revision?: string }; files: Record<string, FileSpec> },
): ExportManifest {
  const vc = config.vision_config;
  const S = vc.image_size;
  const grid = S / vc.patch_size;
  const D = config.text_config.hidden_size;
  const P = config.projection_dim;
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    family: 'fgclip',
    source: parts.source,
    dtype: parts.dtype,
    imageSize: S,
    patchSize: vc.patch_size,
    grid,
    projectionDim: P,
    textHiddenSize: D,
    logitScaleLog: built.logitScaleLog,
    text: {
      shortLength: config.text_config.max_position_embeddings,
      longLength: config.long_max_length,
      eosTokenId: config.text_config.eos_token_id,
      vocabSize: config.text_config.vocab_size,
    },
    preprocess: { mode: 'squash', mean: [...pre.image_mean], std: [...pre.image_std], rescaleFactor: pre.rescale_factor, resample: 'PIL bicubic' },
    positions: { file: POSITIONS_FILE, short: [config.text_config.max_position_embeddings, D], long: [config.long_max_length, D], dtype: 'float32' },
    graphs: { vision: visionSpec(S, grid, P), text: textSpec(D, P) },
    files: parts.files,
  };
}
