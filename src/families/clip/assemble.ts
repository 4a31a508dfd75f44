/**
 * CLIP assembly: config.json (CLIPConfig) → checkpoint tensors → text and vision graphs → sessions. The CLIP text
 * graph with one head; pooling at the first end token, which is what CLIPTextTransformer does for the CLIP
 * vocabulary in both of its rules (legacy configs with eos_token_id 2 pool at argmax(ids), and the end token 49407
 * is the largest id; newer configs pool at the first eos_token_id).
 */
import { preprocessConfigFrom } from '../../config/preprocessor.js';
import { parseConfig } from '../../config/load.js';
import type { ClipConfig } from '../../config/types.js';
import { buildClipTextGraph } from '../../graph/clip-text.js';
import { buildClipVisionGraph } from '../../graph/clip-vision.js';
import { ClipTokenizer } from '../../tokenizer/index.js';
import { WeightReader } from '../../weights/reader.js';
import { ClipTowers, clipSessions, resolveImageSize, visionPositionsFor, type ClipBuildPlan } from '../shared/clip-towers.js';
import type { FamilyLoadContext } from '../types.js';
import type { CheckpointFiles } from '../../weights/checkpoint-files.js';

const TEXT_EMBEDS = 'text_embeds';

export async function loadClip(ctx: FamilyLoadContext): Promise<ClipTowers<ClipConfig>> {
  const { dir, options } = ctx;
  // the CLIPConfig reader of config/ (FG-CLIP's long-table lengths are not part of a CLIP config)
  const parsed = parseConfig(ctx.config, ctx.configPath);
  const config: ClipConfig = {
    projection_dim: parsed.projection_dim,
    logit_scale_init_value: parsed.logit_scale_init_value,
    text_config: parsed.text_config,
    vision_config: parsed.vision_config,
  };
  const preprocessConfig = await preprocessConfigFrom(ctx.folder, parsed, options.onWarning ?? (() => undefined));
  const tokenizer = await ClipTokenizer.fromFolder(ctx.folder);
  const S = resolveImageSize(config, options.imageSize);
  const sessions = await clipSessions(ctx, S, () => planClip(ctx.checkpoint, config, S, options.dtype));
  if (!sessions.fromGraphCache && sessions.unknownTensors.length > 0) {
    const u = sessions.unknownTensors;
    options.onWarning?.(`${dir}: ${u.length} tensor(s) not used by CLIP: ${u.slice(0, 8).join(', ')}${u.length > 8 ? ', …' : ''}`);
  }
  return new ClipTowers({
    config,
    preprocessConfig,
    defaultPreprocess: 'crop',
    tokenizer,
    imageSize: S,
    sessions,
    textLengths: { short: config.text_config.max_position_embeddings },
    textOutputs: { short: TEXT_EMBEDS },
  });
}

async function planClip(checkpoint: CheckpointFiles, config: ClipConfig, S: number, dtype: FamilyLoadContext['options']['dtype']): Promise<ClipBuildPlan> {
  const raw = await checkpoint.readAll();
  const w = new WeightReader(raw.tensors, raw.where, { consume: true });
  const tc = config.text_config;
  const tables = { short: w.get('text_model.embeddings.position_embedding.weight', [tc.max_position_embeddings, tc.hidden_size]) };
  const logitScaleLog = w.get('logit_scale', [])[0];
  const positionEmbedding = visionPositionsFor(config, w, S);
  return {
    tables,
    logitScaleLog,
    buildText: (sink) => buildClipTextGraph('clip_text', config, w, [{ module: 'text_projection', output: TEXT_EMBEDS }], { dtype, sink }),
    buildVision: (sink) => buildClipVisionGraph('clip_vision', config, w, { imageSize: S, positionEmbedding, dtype, sink, dense: 'on-request' }),
    finish: () => {
      w.check('Check that config.json and the weights come from the same CLIP checkpoint.');
      const unused = w.unused();
      raw.tensors.clear();
      return unused;
    },
  };
}
