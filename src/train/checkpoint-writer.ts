/**
 * Training checkpoints in the Hugging Face layout, written atomically.
 *
 * A model folder is what `FgClip.load` and the authors' `FGCLIPModel.from_pretrained` read: `config.json` (HF
 * `CLIPConfig` fields), `model.safetensors` (the reference's tensor names and shapes, F32 — or F16 for a small
 * published model), the tokenizer files and `preprocessor_config.json`. A training checkpoint adds
 * `optimizer.safetensors` (AdamW moments, `exp_avg.<name>` / `exp_avg_sq.<name>`) and `trainer_state.json` (step,
 * data position, seed, options) so a run resumes exactly.
 *
 * Atomicity: everything is written into a temporary sibling folder, every file fsynced, the folder fsynced, then
 * renamed to its final name and the parent fsynced. A kill -9 at any moment leaves either the previous checkpoints
 * untouched plus a stale temporary folder (removed on the next start) or the new, complete checkpoint.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FgClipConfig, PreprocessConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import { toHalf } from '../graph/onnx-builder.js';
import { fgclipTensors } from '../families/fgclip/checkpoint.js';
import { encodeSafetensors, readSafetensors, type RawTensor } from '../weights/index.js';
import type { AdamWState } from './optimizer.js';

export const TOKENIZER_FILES = ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'] as const;
export const TRAINER_STATE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const CHECKPOINT_RE = /^checkpoint-(\d+)$/;
const TEMP_PREFIX = '.tmp-';

/** config.json for `config` in the HF CLIPConfig layout (what `loadConfig` reads back to the same config). */
export function configJson(config: FgClipConfig): Record<string, unknown> {
  const t = config.text_config;
  const v = config.vision_config;
  return {
    architectures: ['FGCLIPModel'],
    model_type: 'clip',
    projection_dim: config.projection_dim,
    logit_scale_init_value: config.logit_scale_init_value,
    initializer_factor: 1.0,
    torch_dtype: 'float32',
    text_config: {
      model_type: 'clip_text_model',
      vocab_size: t.vocab_size,
      max_position_embeddings: t.max_position_embeddings,
      hidden_size: t.hidden_size,
      intermediate_size: t.intermediate_size,
      num_hidden_layers: t.num_hidden_layers,
      num_attention_heads: t.num_attention_heads,
      hidden_act: t.hidden_act,
      layer_norm_eps: t.layer_norm_eps,
      bos_token_id: t.bos_token_id,
      eos_token_id: t.eos_token_id,
      pad_token_id: t.pad_token_id,
      projection_dim: config.projection_dim,
    },
    vision_config: {
      model_type: 'clip_vision_model',
      image_size: v.image_size,
      patch_size: v.patch_size,
      num_channels: v.num_channels,
      hidden_size: v.hidden_size,
      intermediate_size: v.intermediate_size,
      num_hidden_layers: v.num_hidden_layers,
      num_attention_heads: v.num_attention_heads,
      hidden_act: v.hidden_act,
      layer_norm_eps: v.layer_norm_eps,
      projection_dim: config.projection_dim,
    },
  };
}

export function preprocessorJson(p: PreprocessConfig): Record<string, unknown> {
  return {
    image_processor_type: 'CLIPImageProcessor',
    do_resize: p.do_resize,
    size: { shortest_edge: p.shortest_edge },
    resample: p.resample,
    do_center_crop: p.do_center_crop,
    crop_size: { height: p.crop_height, width: p.crop_width },
    do_rescale: p.do_rescale,
    rescale_factor: p.rescale_factor,
    do_normalize: p.do_normalize,
    do_convert_rgb: true,
    image_mean: [...p.image_mean],
    image_std: [...p.image_std],
  };
}

function rawTensor(shape: readonly number[], data: Float32Array, dtype: 'F32' | 'F16'): RawTensor {
  if (dtype === 'F32') return { dtype, shape, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  const h = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) h[i] = toHalf(data[i]);
  return { dtype, shape, bytes: new Uint8Array(h.buffer) };
}

/** The weights file of `params` in the reference's tensor order, checked against the config's expected shapes. */
export function encodeModel(config: FgClipConfig, params: ReadonlyMap<string, Float32Array>, dtype: 'F32' | 'F16' = 'F32'): Uint8Array {
  const entries: [string, RawTensor][] = [];
  for (const [name, shape] of fgclipTensors(config)) {
    const data = params.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!data || data.length !== n)
      throw new FgClipError('WEIGHTS_SHAPE', `checkpoint: ${name} ${data ? `has ${data.length} values` : 'is missing'} (expected [${shape.join(', ')}])`);
    entries.push([name, rawTensor(shape, data, dtype)]);
  }
  return encodeSafetensors(entries, { format: 'pt' });
}

export function encodeOptimizer(state: AdamWState): Uint8Array {
  const entries: [string, RawTensor][] = [];
  for (const [name, m] of state.expAvg) {
    entries.push([`exp_avg.${name}`, rawTensor([m.length], m, 'F32')]);
    entries.push([`exp_avg_sq.${name}`, rawTensor([m.length], state.expAvgSq.get(name)!, 'F32')]);
  }
  return encodeSafetensors(entries, { step: String(state.step) });
}

export async function readOptimizer(file: string): Promise<AdamWState> {
  const t = await readSafetensors(file);
  const expAvg = new Map<string, Float32Array>();
  const expAvgSq = new Map<string, Float32Array>();
  for (const [k, v] of t) {
    if (k.startsWith('exp_avg_sq.')) expAvgSq.set(k.slice('exp_avg_sq.'.length), v.data);
    else if (k.startsWith('exp_avg.')) expAvg.set(k.slice('exp_avg.'.length), v.data);
  }
  const state = JSON.parse(readFileSync(join(dirname(file), TRAINER_STATE), 'utf8')) as { step: number };
  return { step: state.step, expAvg, expAvgSq };
}

function writeFileSynced(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, Math.min(buf.length - off, 1 << 26));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface ModelFiles {
  readonly config: FgClipConfig;
  readonly preprocess: PreprocessConfig;
  readonly params: ReadonlyMap<string, Float32Array>;
  /** folder whose tokenizer files are copied (the starting checkpoint) */
  readonly tokenizerDir: string;
  /** weights dtype (default F32) */
  readonly dtype?: 'F32' | 'F16';
}

/** Extra files of a training checkpoint. */
export interface TrainingFiles {
  readonly optimizer: AdamWState;
  /** JSON-serialisable trainer state (must hold `step`) */
  readonly state: { readonly step: number } & Record<string, unknown>;
}

/**
 * Makes the folder `target` atomically: `fill(put)` writes its files (each fsynced) into a temporary sibling, which
 * is fsynced and renamed into place (an existing folder of that name is replaced); on any failure the temporary
 * folder is removed and `target` is unchanged.
 */
export function writeFolderAtomic(target: string, fill: (put: (name: string, data: Uint8Array | string) => void, tmp: string) => void): void {
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `${TEMP_PREFIX}${basename(target)}-${process.pid}-${Date.now()}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    fill((name, data) => writeFileSynced(join(tmp, name), data), tmp);
    fsyncDir(tmp);
    if (existsSync(target)) {
      const old = join(parent, `${TEMP_PREFIX}old-${basename(target)}-${process.pid}-${Date.now()}`);
      renameSync(target, old);
      renameSync(tmp, target);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, target);
    fsyncDir(parent);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Writes a model folder (and, with `training`, a resumable checkpoint) at `target`, atomically: a complete folder
 * appears under that name or nothing changes. An existing folder of that name is replaced.
 */
export function writeCheckpointAtomic(target: string, model: ModelFiles, training?: TrainingFiles, hooks: { afterFile?: (name: string) => void } = {}): void {
  writeFolderAtomic(target, (write, tmp) => {
    const put = (name: string, data: Uint8Array | string) => {
      write(name, data);
      hooks.afterFile?.(name);
    };
    put('config.json', JSON.stringify(configJson(model.config), null, 2) + '\n');
    put('preprocessor_config.json', JSON.stringify(preprocessorJson(model.preprocess), null, 2) + '\n');
    let copied = 0;
    for (const f of TOKENIZER_FILES) {
      const src = join(model.tokenizerDir, f);
      if (!existsSync(src)) continue;
      copyFileSync(src, join(tmp, f));
      const fd = openSync(join(tmp, f), 'r+');
      fsyncSync(fd);
      closeSync(fd);
      copied++;
    }
    if (copied === 0)
      throw new FgClipError(
        'TOKENIZER_INVALID',
        `${model.tokenizerDir}: no tokenizer files to copy into the checkpoint (expected ${TOKENIZER_FILES.join(', ')})`,
      );
    put('model.safetensors', encodeModel(model.config, model.params, model.dtype ?? 'F32'));
    if (training) {
      put(OPTIMIZER_FILE, encodeOptimizer(training.optimizer));
      put(TRAINER_STATE, JSON.stringify(training.state, null, 2) + '\n'); // last: its presence marks a complete folder
    }
  });
}

/** `.tmp-old-<name>-<pid>-<ms>`: a complete folder moved aside while a new `<name>` replaces it. */
const MOVED_ASIDE_RE = /^\.tmp-old-(.+)-\d+-\d+$/; // TEMP_PREFIX + 'old-'

/**
 * Cleans what a killed writer left in `dir`: temporary folders are removed, except a complete folder that was moved
 * aside to be replaced when the kill came between the two renames (its name is free): it is put back.
 */
export function removeStaleTemp(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const stale = readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX));
  for (const n of stale) {
    const aside = MOVED_ASIDE_RE.exec(n);
    if (aside && !existsSync(join(dir, aside[1]))) renameSync(join(dir, n), join(dir, aside[1]));
    else rmSync(join(dir, n), { recursive: true, force: true });
  }
  return stale;
}

/** `checkpoint-<step>` folders of `dir` holding a trainer state, newest first. */
export function listCheckpoints(dir: string): { step: number; path: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => ({ m: CHECKPOINT_RE.exec(n), n }))
    .filter((x) => x.m && existsSync(join(dir, x.n, TRAINER_STATE)))
    .map((x) => ({ step: Number(x.m![1]), path: join(dir, x.n) }))
    .sort((a, b) => b.step - a.step);
}

export function checkpointName(step: number): string {
  return `checkpoint-${step}`;
}

/**
 * Keeps the newest `keep` checkpoints of `dir` (older ones are removed after a newer one is complete). Each is first
 * renamed to a temporary name, so a kill during the recursive delete never leaves a half-deleted folder that still
 * looks like a checkpoint (its trainer state present, its config gone); the next run's `removeStaleTemp` finishes it.
 */
export function pruneCheckpoints(dir: string, keep: number): void {
  for (const c of listCheckpoints(dir).slice(Math.max(1, keep))) {
    const doomed = join(dir, `${TEMP_PREFIX}prune-${basename(c.path)}-${process.pid}-${Date.now()}`);
    renameSync(c.path, doomed);
    rmSync(doomed, { recursive: true, force: true });
  }
}
