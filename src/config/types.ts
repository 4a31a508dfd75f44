/**
 * Typed FG-CLIP v1 configuration (HF `CLIPConfig` layout, config.json). Keys keep the reference's snake_case
 * so a reader can diff against configuration_clip.py. Parsed and validated once by `loadConfig`.
 */
export type Activation = 'quick_gelu' | 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh';

export interface TowerConfig {
  readonly hidden_size: number;
  readonly intermediate_size: number;
  readonly num_hidden_layers: number;
  readonly num_attention_heads: number;
  readonly layer_norm_eps: number;
  readonly hidden_act: Activation;
}

export interface TextConfig extends TowerConfig {
  readonly vocab_size: number;
  /** rows of the short position table (77 for every released checkpoint) */
  readonly max_position_embeddings: number;
  readonly bos_token_id: number;
  readonly eos_token_id: number;
  readonly pad_token_id: number;
}

export interface VisionConfig extends TowerConfig {
  readonly image_size: number;
  readonly patch_size: number;
  readonly num_channels: number;
}

/** The CLIPConfig part every CLIP-architecture family shares (two towers and a projection size). */
export interface ClipConfig {
  readonly projection_dim: number;
  /** initial value of the three `logit_scale*` parameters (CLIPConfig default 2.6592 = ln(1/0.07)); only used to
   *  carry a plain OpenAI-CLIP checkpoint, whose file lacks `logit_scale_finegraind`/`_hardneg` (fgclip.py:71-73). */
  readonly logit_scale_init_value: number;
  readonly text_config: TextConfig;
  readonly vision_config: VisionConfig;
}

export interface FgClipConfig extends ClipConfig {
  /** length of the long-caption position tables (`position_embedding_ori`/`_res`): 248, hard-coded in fgclip.py */
  readonly long_max_length: number;
  /** rows taken from `position_embedding_ori` in long mode (fgclip.py keep_len = 20) */
  readonly long_keep_length: number;
}

/** preprocessor_config.json (CLIPImageProcessor). */
export interface PreprocessConfig {
  readonly shortest_edge: number;
  readonly crop_height: number;
  readonly crop_width: number;
  readonly do_resize: boolean;
  readonly do_center_crop: boolean;
  readonly do_rescale: boolean;
  readonly rescale_factor: number;
  readonly do_normalize: boolean;
  readonly image_mean: readonly [number, number, number];
  readonly image_std: readonly [number, number, number];
  /** PIL resample id; 3 = BICUBIC is the only one we implement */
  readonly resample: number;
}
