/**
 * A randomly initialised FG-CLIP for training from scratch (the synthetic demo model), initialised as transformers'
 * `CLIPPreTrainedModel._init_weights` does (modeling_clip.py, initializer_factor 1), then carried into the FG-CLIP
 * layout exactly as `from_openai` carries OpenAI CLIP (248-row tables from the 77-row table, `text_filip_projection`
 * = `text_projection`, the region temperatures = `logit_scale`). Seeded: the same spec and seed give the same bits.
 */
import { CLIP_DEFAULTS, FGCLIP_FORCED_IDS, LONG_KEEP_LENGTH, LONG_MAX_LENGTH } from '../config/load.js';
import type { Activation, FgClipConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import type { TensorMap } from '../weights/types.js';
import { fgclipTensors } from '../families/fgclip/checkpoint.js';
import { carryOpenAiCheckpoint } from '../weights/index.js';
import { hash32, mulberry32 } from './data/rng.js';

export interface SmallModelSpec {
  readonly imageSize: number;
  readonly patchSize: number;
  readonly visionHidden: number;
  readonly visionLayers: number;
  readonly visionHeads: number;
  readonly textHidden: number;
  readonly textLayers: number;
  readonly textHeads: number;
  readonly projectionDim: number;
  /** MLP width = ratio × hidden (default 4) */
  readonly mlpRatio?: number;
  /** default quick_gelu (the released checkpoints) */
  readonly activation?: Activation;
}

/** The demo model's shape: 64 px images in an 8×8 grid of patches, small towers (see README "Training"). */
export const SYNTHETIC_MODEL_SPEC: SmallModelSpec = {
  imageSize: 64,
  patchSize: 8,
  visionHidden: 96,
  visionLayers: 4,
  visionHeads: 4,
  textHidden: 48,
  textLayers: 3,
  textHeads: 4,
  projectionDim: 64,
};

/** A full FgClipConfig for a spec (what `loadConfig` would return for the config.json written for it). */
export function smallConfig(spec: SmallModelSpec): FgClipConfig {
  const r = spec.mlpRatio ?? 4;
  const act = spec.activation ?? 'quick_gelu';
  for (const [k, v] of Object.entries(spec)) {
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 1))
      throw new FgClipError('INPUT_INVALID', `model spec: ${k} must be a positive integer (got ${v})`);
  }
  if (spec.imageSize % spec.patchSize !== 0)
    throw new FgClipError('INPUT_INVALID', `model spec: imageSize must be a multiple of patchSize (got ${spec.imageSize}, ${spec.patchSize})`);
  if (spec.visionHidden % spec.visionHeads !== 0 || spec.textHidden % spec.textHeads !== 0)
    throw new FgClipError('INPUT_INVALID', 'model spec: hidden sizes must be divisible by their head counts');
  return {
    projection_dim: spec.projectionDim,
    logit_scale_init_value: CLIP_DEFAULTS.logit_scale_init_value,
    text_config: {
      hidden_size: spec.textHidden,
      intermediate_size: r * spec.textHidden,
      num_hidden_layers: spec.textLayers,
      num_attention_heads: spec.textHeads,
      layer_norm_eps: 1e-5,
      hidden_act: act,
      vocab_size: CLIP_DEFAULTS.text.vocab_size,
      max_position_embeddings: CLIP_DEFAULTS.text.max_position_embeddings,
      ...FGCLIP_FORCED_IDS,
    },
    vision_config: {
      hidden_size: spec.visionHidden,
      intermediate_size: r * spec.visionHidden,
      num_hidden_layers: spec.visionLayers,
      num_attention_heads: spec.visionHeads,
      layer_norm_eps: 1e-5,
      hidden_act: act,
      image_size: spec.imageSize,
      patch_size: spec.patchSize,
      num_channels: 3,
    },
    long_max_length: LONG_MAX_LENGTH,
    long_keep_length: LONG_KEEP_LENGTH,
  };
}

/** Standard deviation of each tensor under CLIP's `_init_weights` (0 = zeros, NaN = ones). */
function initStd(name: string, config: FgClipConfig): number {
  const tower = name.startsWith('vision_model.') ? config.vision_config : config.text_config;
  const D = tower.hidden_size;
  const L = tower.num_hidden_layers;
  if (name.endsWith('.bias')) return 0;
  if (/(layer_?norm\d?|layrnorm)\.weight$/.test(name)) return NaN;
  if (name === 'vision_model.embeddings.class_embedding') return D ** -0.5;
  if (name.includes('embeddings.')) return 0.02; // token, position, patch embeddings: initializer_range
  if (/self_attn\.(q|k|v)_proj\.weight$/.test(name) || name.endsWith('mlp.fc2.weight')) return D ** -0.5 * (2 * L) ** -0.5;
  if (name.endsWith('self_attn.out_proj.weight')) return D ** -0.5;
  if (name.endsWith('mlp.fc1.weight')) return (2 * D) ** -0.5;
  if (name === 'visual_projection.weight') return config.vision_config.hidden_size ** -0.5;
  if (name === 'text_projection.weight') return config.text_config.hidden_size ** -0.5;
  throw new FgClipError('INPUT_INVALID', `init: no rule for ${name}`);
}

/** Every tensor of a fresh model for `config`, seeded. */
export function initParameters(config: FgClipConfig, seed: number): TensorMap {
  const openai: TensorMap = new Map();
  for (const [name, shape] of fgclipTensors(config)) {
    if (name.includes('position_embedding_') || name === 'text_filip_projection.weight' || name === 'logit_scale_finegraind' || name === 'logit_scale_hardneg')
      continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name === 'logit_scale') data[0] = config.logit_scale_init_value;
    else {
      const std = initStd(name, config);
      if (Number.isNaN(std)) data.fill(1);
      else if (std > 0) {
        const rand = mulberry32(hash32(seed, ...Array.from(name, (c) => c.charCodeAt(0))));
        for (let i = 0; i < n; i += 2) {
          // Box-Muller
          const u = 1 - rand();
          const v = rand();
          const r = Math.sqrt(-2 * Math.log(u)) * std;
          data[i] = r * Math.cos(2 * Math.PI * v);
          if (i + 1 < n) data[i + 1] = r * Math.sin(2 * Math.PI * v);
        }
      }
    }
    openai.set(name, { shape, data, storedDtype: 'F32' });
  }
  return carryOpenAiCheckpoint(openai, config.logit_scale_init_value).tensors;
}
