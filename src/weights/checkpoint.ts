/**
 * An FG-CLIP v1 checkpoint folder → validated tensors. Finds the weight file(s), drops ignorable buffers, carries a
 * plain OpenAI-CLIP checkpoint into the FG-CLIP layout the way training does, then checks every tensor of docs/model-spec.md §1.3
 * against the config and reports every problem in one error.
 * References: fgclip.py:62-74 (FGCLIPModel parameters), :84-126 (`resize_postion_embeding`, `copy_weight`);
 * modeling_clip.py:171-192, 251-270, 299-319, 403-425, 758-765, 920-929 (tower parameters).
 */
import { join } from 'node:path';
import { CLIP_DEFAULTS } from '../config/load.js';
import type { FgClipConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import { pathExists } from '../platform/node/regular-file.js';
import { readPytorchBin } from './pytorch-bin.js';
import { readShardedSafetensors } from './safetensors-index.js';
import { readSafetensors } from './safetensors.js';
import type { Tensor, TensorMap } from './types.js';

/** Weight files in the order `from_pretrained` prefers them. */
export const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'] as const;

/** Tensors only FG-CLIP has; a checkpoint lacking all of them is a plain CLIP checkpoint (see `carryOpenAiCheckpoint`). */
export const FGCLIP_ONLY = [
  'text_model.embeddings.position_embedding_ori.weight',
  'text_model.embeddings.position_embedding_res.weight',
  'text_filip_projection.weight',
] as const;

/**
 * `*.position_ids` are `arange(n)` buffers registered `persistent=False` in current transformers
 * (modeling_clip.py:192, 268-270), but checkpoints written by older transformers contain them (as int64). The model
 * recomputes them, so they are skipped before reading (their int64 dtype would otherwise be refused).
 */
export function isIgnorableBuffer(name: string): boolean {
  return name.endsWith('.position_ids');
}

function towerLayers(m: Map<string, number[]>, prefix: string, D: number, I: number, L: number): void {
  for (let i = 0; i < L; i++) {
    const p = `${prefix}.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${p}.self_attn.${proj}.weight`, [D, D]);
      m.set(`${p}.self_attn.${proj}.bias`, [D]);
    }
    for (const ln of ['layer_norm1', 'layer_norm2']) {
      m.set(`${p}.${ln}.weight`, [D]);
      m.set(`${p}.${ln}.bias`, [D]);
    }
    m.set(`${p}.mlp.fc1.weight`, [I, D]);
    m.set(`${p}.mlp.fc1.bias`, [I]);
    m.set(`${p}.mlp.fc2.weight`, [D, I]);
    m.set(`${p}.mlp.fc2.bias`, [D]);
  }
}

/** Every tensor of docs/model-spec.md §1.3 with its shape for `config` (PyTorch layouts: Linear [out, in], Conv2d OIHW). */
export function expectedTensors(config: FgClipConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const v = config.vision_config;
  const t = config.text_config;
  const P = config.projection_dim;
  const grid = v.image_size / v.patch_size;

  m.set('vision_model.embeddings.class_embedding', [v.hidden_size]);
  m.set('vision_model.embeddings.patch_embedding.weight', [v.hidden_size, v.num_channels, v.patch_size, v.patch_size]);
  m.set('vision_model.embeddings.position_embedding.weight', [grid * grid + 1, v.hidden_size]); // CLS + g² patches
  m.set('vision_model.pre_layrnorm.weight', [v.hidden_size]); // (sic) reference spelling
  m.set('vision_model.pre_layrnorm.bias', [v.hidden_size]);
  towerLayers(m, 'vision_model', v.hidden_size, v.intermediate_size, v.num_hidden_layers);
  m.set('vision_model.post_layernorm.weight', [v.hidden_size]);
  m.set('vision_model.post_layernorm.bias', [v.hidden_size]);

  m.set('text_model.embeddings.token_embedding.weight', [t.vocab_size, t.hidden_size]);
  m.set('text_model.embeddings.position_embedding.weight', [t.max_position_embeddings, t.hidden_size]);
  m.set('text_model.embeddings.position_embedding_res.weight', [config.long_max_length, t.hidden_size]);
  m.set('text_model.embeddings.position_embedding_ori.weight', [config.long_max_length, t.hidden_size]);
  towerLayers(m, 'text_model', t.hidden_size, t.intermediate_size, t.num_hidden_layers);
  m.set('text_model.final_layer_norm.weight', [t.hidden_size]);
  m.set('text_model.final_layer_norm.bias', [t.hidden_size]);

  m.set('visual_projection.weight', [P, v.hidden_size]);
  m.set('text_projection.weight', [P, t.hidden_size]);
  m.set('text_filip_projection.weight', [P, t.hidden_size]);
  m.set('logit_scale', []); // 0-d, log-space
  m.set('logit_scale_finegraind', []); // (sic)
  m.set('logit_scale_hardneg', []);
  return m;
}

export interface LoadedCheckpoint {
  /** exactly the tensors of `expectedTensors(config)`, shapes checked */
  readonly tensors: TensorMap;
  /** tensors in the file that the model does not use (not loaded); callers should warn about them */
  readonly unknown: string[];
  /** weight files read */
  readonly files: string[];
  /** tensors synthesised by `carryOpenAiCheckpoint` (empty for an FG-CLIP checkpoint) */
  readonly carried: string[];
}

/** A dangling symlink or a special file counts as present, so that its reader refuses it with a typed error. */
const exists = pathExists;

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** The tensors of a checkpoint folder as stored (ignorable buffers skipped), and the file(s) they came from. */
export interface RawCheckpoint {
  readonly tensors: TensorMap;
  readonly files: string[];
  /** the file to name in errors (the index for a sharded checkpoint) */
  readonly where: string;
}

/** Finds the weight file(s) of `dir` in `from_pretrained`'s order and reads every tensor (no validation). */
export async function readCheckpoint(dir: string): Promise<RawCheckpoint> {
  const only = (name: string) => !isIgnorableBuffer(name);
  let tensors: TensorMap;
  let files: string[];
  const [st, index, bin] = WEIGHT_FILES.map((f) => join(dir, f));
  if (await exists(st)) {
    tensors = await readSafetensors(st, { only });
    files = [st];
  } else if (await exists(index)) {
    ({ tensors, files } = await readShardedSafetensors(index, { only }));
  } else if (await exists(bin)) {
    tensors = await readPytorchBin(bin, { only });
    files = [bin];
  } else {
    throw new FgClipError('WEIGHTS_MISSING', `${dir}: no weight file found (looked for ${WEIGHT_FILES.join(', ')}). Point at a folder holding an FG-CLIP checkpoint.`);
  }
  return { tensors, files, where: files.length === 1 ? files[0] : index };
}

export async function loadCheckpoint(dir: string, config: FgClipConfig): Promise<LoadedCheckpoint> {
  const { tensors: stored, files, where } = await readCheckpoint(dir);
  let raw = stored;
  let carried: string[] = [];
  if (FGCLIP_ONLY.every((n) => !raw.has(n))) ({ tensors: raw, carried } = carryOpenAiCheckpoint(raw, config.logit_scale_init_value));

  const expected = expectedTensors(config);
  const missing: string[] = [];
  const misShaped: string[] = [];
  const tensors: TensorMap = new Map();
  for (const [name, shape] of expected) {
    const t = raw.get(name);
    if (!t) missing.push(`${name} ${fmt(shape)}`);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      misShaped.push(`${name} (expected ${fmt(shape)}, got ${fmt(t.shape)})`);
    } else tensors.set(name, t);
  }
  if (missing.length > 0 || misShaped.length > 0) {
    const parts: string[] = [];
    if (missing.length) parts.push(`${missing.length} missing tensor(s): ${missing.join(', ')}`);
    if (misShaped.length) parts.push(`${misShaped.length} tensor(s) with the wrong shape: ${misShaped.join(', ')}`);
    throw new FgClipError(
      missing.length ? 'WEIGHTS_MISSING' : 'WEIGHTS_SHAPE',
      `${where}: checkpoint does not match config.json: ${parts.join('; ')}. Check that config.json and the weights come from the same FG-CLIP checkpoint.`,
    );
  }
  const unknown = [...raw.keys()].filter((n) => !expected.has(n));
  return { tensors, unknown, files, carried };
}

/**
 * `resize_postion_embeding` (fgclip.py:84-120): the 77-row `position_embedding` → the 248-row table training starts
 * from (rows 0..19 copied, 4× linear interpolation between rows 20..76, linear extrapolation for the last four).
 * Each row is evaluated term by term as the reference writes it (`c*pre[a]/4 + …`) in float64, then rounded once to
 * float32; the goldens are the float64 result. `ori` and `res` are separate copies (the reference clones).
 */
export function buildLongPositionTables(pre: Tensor, keep = 20): { ori: Tensor; res: Tensor } {
  if (pre.shape.length !== 2 || pre.shape[0] < Math.max(keep + 1, 2)) {
    throw new FgClipError('WEIGHTS_SHAPE', `text_model.embeddings.position_embedding.weight: cannot build the long tables (expected [L >= ${keep + 1}, D], got ${fmt(pre.shape)})`);
  }
  const [L, D] = pre.shape;
  const n = 4 * L - 3 * keep;
  const out = new Float32Array(n * D);
  const p = pre.data;
  for (let j = 0; j < keep * D; j++) out[j] = p[j];
  for (let i = 0; i < L - 1 - keep; i++) {
    const a = (i + keep) * D;
    const b = (i + 1 + keep) * D;
    const r = (4 * i + keep) * D;
    for (let d = 0; d < D; d++) {
      const x = p[a + d];
      const y = p[b + d];
      out[r + d] = x;
      out[r + D + d] = (3 * x) / 4 + (1 * y) / 4;
      out[r + 2 * D + d] = (2 * x) / 4 + (2 * y) / 4;
      out[r + 3 * D + d] = (1 * x) / 4 + (3 * y) / 4;
    }
  }
  const last = (L - 1) * D;
  const prev = (L - 2) * D;
  for (let k = 0; k < 4; k++) {
    const r = (n - 4 + k) * D;
    for (let d = 0; d < D; d++) out[r + d] = p[last + d] + (k * (p[last + d] - p[prev + d])) / 4;
  }
  const shape = [n, D];
  return { ori: { shape, data: out, storedDtype: pre.storedDtype }, res: { shape, data: out.slice(), storedDtype: pre.storedDtype } };
}

/**
 * What training does when it starts from OpenAI CLIP (train_fgclip.py:390-394 → `resize_postion_embeding`,
 * `copy_weight`): adds each absent FG-CLIP tensor — `position_embedding_ori/res` from the 77-row table,
 * `text_filip_projection` = copy of `text_projection`, and the two extra temperatures at their init value
 * (FGCLIPModel.__init__, fgclip.py:71-73; training-only). Returns a new map and the names it added.
 */
export function carryOpenAiCheckpoint(tensors: TensorMap, logitScaleInit: number = CLIP_DEFAULTS.logit_scale_init_value): { tensors: TensorMap; carried: string[] } {
  const out: TensorMap = new Map(tensors);
  const carried: string[] = [];
  const add = (name: string, t: Tensor) => {
    out.set(name, t);
    carried.push(name);
  };
  const ori = 'text_model.embeddings.position_embedding_ori.weight';
  const res = 'text_model.embeddings.position_embedding_res.weight';
  const pre = tensors.get('text_model.embeddings.position_embedding.weight');
  if (pre && (!out.has(ori) || !out.has(res))) {
    const built = buildLongPositionTables(pre);
    if (!out.has(ori)) add(ori, built.ori);
    if (!out.has(res)) add(res, built.res);
  }
  const proj = tensors.get('text_projection.weight');
  if (proj && !out.has('text_filip_projection.weight')) add('text_filip_projection.weight', { ...proj, data: proj.data.slice() });
  for (const name of ['logit_scale_finegraind', 'logit_scale_hardneg']) {
    if (!out.has(name)) add(name, { shape: [], data: Float32Array.of(logitScaleInit), storedDtype: 'F32' });
  }
  return { tensors: out, carried };
}
