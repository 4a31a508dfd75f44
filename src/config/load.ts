/**
 * config.json (HF `CLIPConfig` layout, as saved for `FGCLIPModel`) → validated, readonly `FgClipConfig`.
 * References: transformers `models/clip/configuration_clip.py` (vendored by FG-CLIP v1 as
 * fgclip/model/clip_strc/configuration_clip.py) for field names and defaults; fgclip.py:33-74 for what FGCLIPModel
 * overrides. HF writes config.json in "diff" mode (fields equal to the class default are omitted), so the defaults
 * below are needed to read real files; nothing else in the library supplies a default.
 */
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { readJsonFile } from '../platform/node/json-file.js';
import { FieldReader, isObject, show, type JsonObject } from './fields.js';
import type { Activation, FgClipConfig, TextConfig, VisionConfig } from './types.js';

export const ACTIVATIONS: readonly Activation[] = ['quick_gelu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh'];

/** Every default in one place; each is the keyword default of the HF class named in the comment. */
export const CLIP_DEFAULTS = {
  projection_dim: 512, // CLIPConfig(projection_dim=512)
  logit_scale_init_value: 2.6592, // CLIPConfig(logit_scale_init_value=2.6592)
  text: {
    vocab_size: 49408, // CLIPTextConfig(vocab_size=49408)
    hidden_size: 512, // CLIPTextConfig(hidden_size=512)
    intermediate_size: 2048, // CLIPTextConfig(intermediate_size=2048)
    num_hidden_layers: 12, // CLIPTextConfig(num_hidden_layers=12)
    num_attention_heads: 8, // CLIPTextConfig(num_attention_heads=8)
    max_position_embeddings: 77, // CLIPTextConfig(max_position_embeddings=77)
    hidden_act: 'quick_gelu' as Activation, // CLIPTextConfig(hidden_act="quick_gelu")
    layer_norm_eps: 1e-5, // CLIPTextConfig(layer_norm_eps=1e-5)
  },
  vision: {
    hidden_size: 768, // CLIPVisionConfig(hidden_size=768)
    intermediate_size: 3072, // CLIPVisionConfig(intermediate_size=3072)
    num_hidden_layers: 12, // CLIPVisionConfig(num_hidden_layers=12)
    num_attention_heads: 12, // CLIPVisionConfig(num_attention_heads=12)
    num_channels: 3, // CLIPVisionConfig(num_channels=3)
    image_size: 224, // CLIPVisionConfig(image_size=224)
    patch_size: 32, // CLIPVisionConfig(patch_size=32)
    hidden_act: 'quick_gelu' as Activation, // CLIPVisionConfig(hidden_act="quick_gelu")
    layer_norm_eps: 1e-5, // CLIPVisionConfig(layer_norm_eps=1e-5)
  },
} as const;

/**
 * Upper bounds for config.json values. Each is far above any CLIP / FG-CLIP checkpoint (ViT-bigG: 48 layers, width
 * 1664, MLP 8192, 16 heads; FG-CLIP 2: 256k vocab) and keeps an untrusted file from sizing buffers or loops without
 * bound before the weights (whose size is real) are even opened.
 */
export const CONFIG_LIMITS = {
  num_hidden_layers: 256,
  hidden_size: 16384,
  intermediate_size: 65536,
  num_attention_heads: 256,
  projection_dim: 16384,
  vocab_size: 1 << 21,
  max_position_embeddings: 1 << 16,
  image_size: 4096,
  patch_size: 1024,
  num_channels: 16,
  /** (image_size / patch_size)² patch tokens */
  patch_tokens: 1 << 16,
} as const;

/**
 * Special-token ids that `FGCLIPModel.__init__` forces whatever config.json says (fgclip.py:54-56). OpenAI's HF
 * configs carry bos 0 / eos 2 / pad 1; keeping those would pool at the wrong position (spec §2.2 step 5).
 */
export const FGCLIP_FORCED_IDS = { bos_token_id: 49406, eos_token_id: 49407, pad_token_id: 49407 } as const;

/** Long-caption tables: 248 rows, first 20 from `position_embedding_ori` (hard-coded in fgclip.py / modeling_clip.py). */
export const LONG_MAX_LENGTH = 248;
export const LONG_KEEP_LENGTH = 20;

/** Reads and validates `<dir>/config.json`. */
export async function loadConfig(dir: string): Promise<FgClipConfig> {
  const file = join(dir, 'config.json');
  return parseConfig(await readConfigJson(file, 'config.json'), file);
}

/** Largest config-like JSON file read (real ones are a few KB). */
const MAX_CONFIG_BYTES = 16 << 20;

/** Reads a config-like JSON file; a missing, special or oversized file or invalid JSON is CONFIG_INVALID naming the file. */
export async function readConfigJson(file: string, what: string): Promise<unknown> {
  return readJsonFile(file, { what, code: 'CONFIG_INVALID', maxBytes: MAX_CONFIG_BYTES, hint: 'Point at a folder holding an FG-CLIP checkpoint' });
}

/** Validates a parsed config.json; `source` names the file in error messages. */
export function parseConfig(json: unknown, source: string): FgClipConfig {
  if (!isObject(json)) {
    throw new FgClipError('CONFIG_INVALID', `${source}: expected a JSON object at top level (got ${show(json)})`);
  }
  const top = new FieldReader(json, source);
  const projection_dim = top.int('projection_dim', CLIP_DEFAULTS.projection_dim, 1, CONFIG_LIMITS.projection_dim);
  const logit_scale_init_value = top.finite('logit_scale_init_value', CLIP_DEFAULTS.logit_scale_init_value);
  const textR = towerReader(top, 'text_config');
  const visionR = towerReader(top, 'vision_config');

  const text_config = parseText(textR);
  const vision_config = parseVision(visionR);
  // FGCLIPModel builds every projection with the top-level projection_dim (fgclip.py:65-69); a tower value that
  // disagrees would mean the file was written for another model.
  for (const r of [textR, visionR]) {
    if (r.has('projection_dim') && r.int('projection_dim') !== projection_dim) {
      throw r.fail('projection_dim', `must equal the top-level projection_dim (expected ${projection_dim}, got ${show(r.obj.projection_dim)})`);
    }
  }
  return {
    projection_dim,
    logit_scale_init_value,
    text_config,
    vision_config,
    long_max_length: LONG_MAX_LENGTH,
    long_keep_length: LONG_KEEP_LENGTH,
  };
}

/**
 * `text_config` / `vision_config`, required here although HF falls back to a ViT-B/32 default (that default never
 * describes an FG-CLIP checkpoint, so its absence means a wrong file). Old HF configs also carry
 * `text_config_dict`, which CLIPConfig.__init__ lays over `text_config`; we do the same.
 */
function towerReader(top: FieldReader, key: 'text_config' | 'vision_config'): FieldReader {
  const base = top.object(key, false);
  const overlay = top.object(`${key}_dict`, false);
  if (!base && !overlay) {
    throw top.fail(key, 'is required (expected an object, got nothing)', 'config.json must describe both towers (HF CLIPConfig layout)');
  }
  const merged: JsonObject = { ...(base?.obj ?? {}), ...(overlay?.obj ?? {}) };
  return new FieldReader(merged, top.source, key);
}

function parseTower(r: FieldReader, d: typeof CLIP_DEFAULTS.text | typeof CLIP_DEFAULTS.vision) {
  const L = CONFIG_LIMITS;
  const hidden_size = r.int('hidden_size', d.hidden_size, 1, L.hidden_size);
  const num_attention_heads = r.int('num_attention_heads', d.num_attention_heads, 1, L.num_attention_heads);
  if (hidden_size % num_attention_heads !== 0) {
    throw r.fail('hidden_size', `must be divisible by num_attention_heads (got ${hidden_size} and ${num_attention_heads})`);
  }
  return {
    hidden_size,
    intermediate_size: r.int('intermediate_size', d.intermediate_size, 1, L.intermediate_size),
    num_hidden_layers: r.int('num_hidden_layers', d.num_hidden_layers, 1, L.num_hidden_layers),
    num_attention_heads,
    layer_norm_eps: r.positive('layer_norm_eps', d.layer_norm_eps),
    hidden_act: r.oneOf('hidden_act', ACTIVATIONS, d.hidden_act),
  };
}

function parseText(r: FieldReader): TextConfig {
  const d = CLIP_DEFAULTS.text;
  const tower = parseTower(r, d);
  const vocab_size = r.int('vocab_size', d.vocab_size, 1, CONFIG_LIMITS.vocab_size);
  const max_position_embeddings = r.int('max_position_embeddings', d.max_position_embeddings, 2, CONFIG_LIMITS.max_position_embeddings);
  // Type-check what the file says, then apply FGCLIPModel's override (see FGCLIP_FORCED_IDS).
  for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id'] as const) if (r.has(k)) r.int(k, undefined, 0, CONFIG_LIMITS.vocab_size);
  for (const [k, id] of Object.entries(FGCLIP_FORCED_IDS)) {
    if (id >= vocab_size) {
      throw r.fail(
        'vocab_size',
        `must exceed ${k} (FGCLIPModel forces ${id}; got vocab_size ${vocab_size})`,
        'FG-CLIP v1 uses the 49408-token CLIP vocabulary',
      );
    }
  }
  return { ...tower, vocab_size, max_position_embeddings, ...FGCLIP_FORCED_IDS };
}

function parseVision(r: FieldReader): VisionConfig {
  const d = CLIP_DEFAULTS.vision;
  const tower = parseTower(r, d);
  const image_size = r.int('image_size', d.image_size, 1, CONFIG_LIMITS.image_size);
  const patch_size = r.int('patch_size', d.patch_size, 1, CONFIG_LIMITS.patch_size);
  if (image_size % patch_size !== 0) {
    throw r.fail('image_size', `must be a multiple of patch_size (got ${image_size} and ${patch_size})`);
  }
  const tokens = (image_size / patch_size) ** 2;
  if (tokens > CONFIG_LIMITS.patch_tokens) {
    throw r.fail('patch_size', `gives ${tokens} patch tokens for image_size ${image_size}, more than the ${CONFIG_LIMITS.patch_tokens} allowed`);
  }
  return { ...tower, image_size, patch_size, num_channels: r.int('num_channels', d.num_channels, 1, CONFIG_LIMITS.num_channels) };
}
