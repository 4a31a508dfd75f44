/**
 * FG-CLIP 2 configuration: config.json (`Fgclip2Config`, configuration_fgclip2.py) and preprocessor_config.json
 * (`Fgclip2ImageProcessor`), validated with upper bounds so a hostile file cannot ask for absurd allocations.
 * Defaults are the classes' defaults (fgclip-spec §7.1).
 */
import { ACTIVATIONS } from '../../config/load.js';
import { FieldReader, isObject, show, type JsonObject } from '../../config/fields.js';
import type { TowerConfig } from '../../config/types.js';
import { FgClipError } from '../../errors.js';
import { MAX_PATCH_BUDGET } from '../../preprocess/naflex.js';

export interface Fgclip2TextConfig extends TowerConfig {
  readonly vocab_size: number;
  /** rows of the short/box position table (64) */
  readonly max_position_embeddings: number;
  /** rows of `position_embedding_ori` used in long mode (20) */
  readonly keep_len: number;
  /** long-caption length and rows of the ori/res tables (196) */
  readonly longtext_len: number;
  readonly projection_size: number;
}

export interface Fgclip2VisionConfig extends TowerConfig {
  readonly num_channels: number;
  /** rows of the learned position grid (a square: 256 = 16×16) */
  readonly num_patches: number;
  readonly patch_size: number;
}

export interface Fgclip2Config {
  readonly text_config: Fgclip2TextConfig;
  readonly vision_config: Fgclip2VisionConfig;
  /** side of the position grid, √num_patches */
  readonly grid: number;
}

export interface Fgclip2PreprocessConfig {
  readonly patch_size: number;
  readonly max_num_patches: number;
  readonly dynamic_max_patches: boolean;
  readonly do_rescale: boolean;
  readonly rescale_factor: number;
  readonly do_normalize: boolean;
  readonly image_mean: readonly [number, number, number];
  readonly image_std: readonly [number, number, number];
  /** 2 = PIL BILINEAR, the only one the NaFlex processor uses */
  readonly resample: number;
}

/** model_type / architectures that select this family */
export const FGCLIP2_ARCHITECTURES = ['Fgclip2Model'] as const;
export const FGCLIP2_MODEL_TYPES = ['fgclip2'] as const;

const LIMITS = { hidden: 8192, layers: 128, heads: 256, vocab: 1 << 20, positions: 4096, patches: 4096, patch: 64 };

function bounded(r: FieldReader, key: string, fallback: number, max: number, min = 1): number {
  const v = r.int(key, fallback, min);
  if (v > max) throw r.fail(key, `must be at most ${max} (got ${v})`, 'No FG-CLIP 2 checkpoint is this large; the file is damaged or hostile');
  return v;
}

function tower(r: FieldReader, hidden: number, inter: number, layers: number, heads: number): TowerConfig {
  const hidden_size = bounded(r, 'hidden_size', hidden, LIMITS.hidden);
  const num_attention_heads = bounded(r, 'num_attention_heads', heads, LIMITS.heads);
  if (hidden_size % num_attention_heads !== 0)
    throw r.fail('hidden_size', `must be divisible by num_attention_heads (got ${hidden_size} and ${num_attention_heads})`);
  return {
    hidden_size,
    intermediate_size: bounded(r, 'intermediate_size', inter, 4 * LIMITS.hidden),
    num_hidden_layers: bounded(r, 'num_hidden_layers', layers, LIMITS.layers),
    num_attention_heads,
    layer_norm_eps: r.positive('layer_norm_eps', 1e-6),
    hidden_act: r.oneOf('hidden_act', ACTIVATIONS, 'gelu_pytorch_tanh'),
  };
}

export function parseFgclip2Config(json: unknown, source: string): Fgclip2Config {
  if (!isObject(json)) throw new FgClipError('CONFIG_INVALID', `${source}: expected a JSON object at top level (got ${show(json)})`);
  const top = new FieldReader(json, source);
  const t = top.object('text_config', true);
  const v = top.object('vision_config', true);
  const tt = tower(t, 768, 3072, 12, 12);
  const max_position_embeddings = bounded(t, 'max_position_embeddings', 64, LIMITS.positions);
  const longtext_len = bounded(t, 'longtext_len', 196, LIMITS.positions);
  const keep_len = bounded(t, 'keep_len', 20, longtext_len, 0);
  const projection_size = bounded(t, 'projection_size', tt.hidden_size, LIMITS.hidden);
  if (projection_size !== tt.hidden_size)
    throw t.fail('projection_size', `must equal hidden_size (the heads are square; got ${projection_size} vs ${tt.hidden_size})`);
  const text_config: Fgclip2TextConfig = {
    ...tt,
    vocab_size: bounded(t, 'vocab_size', 32000, LIMITS.vocab),
    max_position_embeddings,
    keep_len,
    longtext_len,
    projection_size,
  };
  const vt = tower(v, 768, 3072, 12, 12);
  const num_patches = bounded(v, 'num_patches', 256, LIMITS.patches);
  const grid = Math.round(Math.sqrt(num_patches));
  if (grid * grid !== num_patches) throw v.fail('num_patches', `must be a square number (the position grid; got ${num_patches})`);
  const vision_config: Fgclip2VisionConfig = {
    ...vt,
    num_channels: bounded(v, 'num_channels', 3, 3),
    num_patches,
    patch_size: bounded(v, 'patch_size', 16, LIMITS.patch),
  };
  if (vision_config.num_channels !== 3) throw v.fail('num_channels', 'must be 3 (RGB)');
  if (vt.hidden_size !== tt.hidden_size)
    throw v.fail('hidden_size', `must equal text_config.hidden_size (the towers share one embedding space; got ${vt.hidden_size} vs ${tt.hidden_size})`);
  return { text_config, vision_config, grid };
}

/** preprocessor_config.json; absent file → the released defaults at the model's patch size. */
export function parseFgclip2Preprocess(json: JsonObject | undefined, source: string, patchSize: number): Fgclip2PreprocessConfig {
  const r = new FieldReader(json ?? {}, source);
  const patch_size = bounded(r, 'patch_size', patchSize, LIMITS.patch);
  if (patch_size !== patchSize) throw r.fail('patch_size', `must equal the model's vision_config.patch_size (got ${patch_size} vs ${patchSize})`);
  const resample = r.int('resample', 2, 0);
  if (resample !== 2) throw r.fail('resample', `must be 2 (PIL BILINEAR; got ${resample})`, "Only the NaFlex processor's bilinear resize is implemented");
  return {
    patch_size,
    max_num_patches: bounded(r, 'max_num_patches', 256, MAX_PATCH_BUDGET),
    dynamic_max_patches: r.bool('dynamic_max_patches', true),
    do_rescale: r.bool('do_rescale', true),
    rescale_factor: r.positive('rescale_factor', 1 / 255),
    do_normalize: r.bool('do_normalize', true),
    image_mean: r.triple('image_mean', [0.5, 0.5, 0.5]),
    image_std: r.triple('image_std', [0.5, 0.5, 0.5]),
    resample,
  };
}

/** Does this config.json describe an FG-CLIP 2 model? (architectures first, then model_type) */
export function isFgclip2Config(json: unknown): boolean {
  if (!isObject(json)) return false;
  const arch = json.architectures;
  if (Array.isArray(arch) && arch.length > 0) return (FGCLIP2_ARCHITECTURES as readonly unknown[]).includes(arch[0]);
  return (FGCLIP2_MODEL_TYPES as readonly unknown[]).includes(json.model_type);
}
