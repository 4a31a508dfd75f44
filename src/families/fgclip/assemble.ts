/**
 * FG-CLIP v1 assembly: config.json → checkpoint tensors (remapped when the file is a plain OpenAI-CLIP checkpoint,
 * as training does) → text and vision graphs → ONNX Runtime sessions (through the graph cache). Every tensor name
 * comes from the builders' reads of the scoped weight reader; its record validates the checkpoint.
 */
import { preprocessConfigFrom } from '../../config/preprocessor.js';
import { parseConfig } from '../../config/load.js';
import type { FgClipConfig } from '../../config/types.js';
import { ClipTokenizer } from '../../tokenizer/index.js';
import { carryOpenAiCheckpoint, FGCLIP_ONLY } from '../../weights/checkpoint.js';
import { WeightReader } from '../../weights/reader.js';
import { ClipTowers, clipSessions, resolveImageSize, visionPositionsFor, type ClipBuildPlan } from '../shared/clip-towers.js';
import type { FamilyLoadContext } from '../types.js';
import type { CheckpointFiles } from '../../weights/checkpoint-files.js';
import { buildTextGraph, TEXT_EMBEDS_LONG, TEXT_EMBEDS_SHORT } from './text-graph.js';
import { readOutsideGraphs } from './tensors.js';
import { buildVisionGraph } from './vision-graph.js';

export type FgClipTowers = ClipTowers<FgClipConfig>;

export async function loadFgClip(ctx: FamilyLoadContext): Promise<FgClipTowers> {
  const { dir, options } = ctx;
  const config = parseConfig(ctx.config, ctx.configPath);
  const preprocessConfig = await preprocessConfigFrom(ctx.folder, config, options.onWarning ?? (() => undefined));
  const tokenizer = await ClipTokenizer.fromFolder(ctx.folder);
  const S = resolveImageSize(config, options.imageSize);
  const sessions = await clipSessions(ctx, S, () => planFgClip(ctx.checkpoint, config, S, ctx.options.dtype));
  if (!sessions.fromGraphCache && sessions.unknownTensors.length > 0) {
    const u = sessions.unknownTensors;
    options.onWarning?.(`${dir}: ${u.length} tensor(s) not used by FG-CLIP: ${u.slice(0, 8).join(', ')}${u.length > 8 ? ', …' : ''}`);
  }
  return new ClipTowers({
    config,
    preprocessConfig,
    defaultPreprocess: 'squash',
    tokenizer,
    imageSize: S,
    sessions,
    textLengths: { short: config.text_config.max_position_embeddings, long: config.long_max_length },
    textOutputs: { short: TEXT_EMBEDS_SHORT, long: TEXT_EMBEDS_LONG },
  });
}

async function planFgClip(checkpoint: CheckpointFiles, config: FgClipConfig, S: number, dtype: FamilyLoadContext['options']['dtype']): Promise<ClipBuildPlan> {
  const raw = await checkpoint.readAll();
  // the one remap of this family: a plain OpenAI-CLIP file gets the FG-CLIP-only tensors training would add
  const tensors = FGCLIP_ONLY.every((n) => !raw.tensors.has(n)) ? carryOpenAiCheckpoint(raw.tensors, config.logit_scale_init_value).tensors : raw.tensors;
  // Each tensor leaves the map once read, and with the graph cache the graph copies stream to files: the
  // checkpoint is never held twice while the graphs are built.
  const w = new WeightReader(tensors, raw.where, { consume: true });
  const { tables, logitScaleLog } = readOutsideGraphs(config, w);
  const positionEmbedding = visionPositionsFor(config, w, S);
  return {
    tables,
    logitScaleLog,
    buildText: (sink) => buildTextGraph(config, w, { dtype, sink }),
    buildVision: (sink) => buildVisionGraph(config, w, { imageSize: S, positionEmbedding, dtype, sink, dense: 'on-request' }),
    finish: () => {
      w.check('Check that config.json and the weights come from the same FG-CLIP checkpoint.');
      const unused = w.unused();
      tensors.clear();
      return unused;
    },
  };
}
