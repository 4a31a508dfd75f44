/**
 * Synthetic FG-CLIP checkpoints with the exact configs and tensor shapes of the released fg-clip-base (ViT-B/16 @224)
 * and fg-clip-large (ViT-L/14 @336) (fgclip-spec.md §1.2/§1.3), filled with deterministic pseudo-random weights.
 * Speed and memory depend only on shapes, so these stand in for the real checkpoints, which cannot be downloaded here.
 *
 * Layout: an HF folder (config.json, preprocessor_config.json, model.safetensors in F32, the CLIP tokenizer files
 * copied from the goldens' fgclip-tiny). The safetensors file is written tensor by tensor in 1M-value chunks, so
 * the 1.7 GB large checkpoint never sits in memory. Folders are cached under `.cache/bench/<name>-<VERSION>`
 * (or $FGCLIP_BENCH_DIR) and reused when their `complete.json` marker exists.
 */
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bump when the weights, shapes or files change: old cache folders are then ignored. */
export const SYNTHETIC_VERSION = 'v1';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GOLDEN_TOKENIZER_DIR = resolve(process.env.FGCLIP_GOLDENS ?? resolve(REPO_ROOT, '..', 'shared', 'goldens'), 'fgclip-tiny');
const TOKENIZER_FILES = ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];
const CHUNK = 1 << 20; // values generated and written per write call

export type ModelName = 'base' | 'large';

/** The hyper-parameters that differ between the two released checkpoints (spec §1.2). */
export interface ModelShape {
  readonly imageSize: number;
  readonly patchSize: number;
  readonly vision: { readonly hidden: number; readonly layers: number; readonly heads: number; readonly mlp: number };
  readonly text: { readonly hidden: number; readonly layers: number; readonly heads: number; readonly mlp: number };
  readonly projection: number;
}

export const SHAPES: Readonly<Record<ModelName, ModelShape>> = {
  base: {
    imageSize: 224,
    patchSize: 16,
    vision: { hidden: 768, layers: 12, heads: 12, mlp: 3072 },
    text: { hidden: 512, layers: 12, heads: 8, mlp: 2048 },
    projection: 512,
  },
  large: {
    imageSize: 336,
    patchSize: 14,
    vision: { hidden: 1024, layers: 24, heads: 16, mlp: 4096 },
    text: { hidden: 768, layers: 12, heads: 12, mlp: 3072 },
    projection: 768,
  },
};

const VOCAB = 49408;
const SHORT_POSITIONS = 77;
const LONG_POSITIONS = 248;

/** How a tensor is filled: N(0, std), a constant, or one value (0-d scalars). */
type Init = { readonly kind: 'normal'; readonly std: number } | { readonly kind: 'const'; readonly value: number };

export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
}

const normal = (std: number): Init => ({ kind: 'normal', std });
const constant = (value: number): Init => ({ kind: 'const', value });

function towerLayers(prefix: string, D: number, I: number, L: number): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (let i = 0; i < L; i++) {
    const p = `${prefix}.encoder.layers.${i}`;
    for (const proj of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) {
      out.push({ name: `${p}.self_attn.${proj}.weight`, shape: [D, D], init: normal(0.02) });
      out.push({ name: `${p}.self_attn.${proj}.bias`, shape: [D], init: constant(0) });
    }
    out.push({ name: `${p}.layer_norm1.weight`, shape: [D], init: constant(1) });
    out.push({ name: `${p}.layer_norm1.bias`, shape: [D], init: constant(0) });
    out.push({ name: `${p}.mlp.fc1.weight`, shape: [I, D], init: normal(0.02) });
    out.push({ name: `${p}.mlp.fc1.bias`, shape: [I], init: constant(0) });
    out.push({ name: `${p}.mlp.fc2.weight`, shape: [D, I], init: normal(0.02) });
    out.push({ name: `${p}.mlp.fc2.bias`, shape: [D], init: constant(0) });
    out.push({ name: `${p}.layer_norm2.weight`, shape: [D], init: constant(1) });
    out.push({ name: `${p}.layer_norm2.bias`, shape: [D], init: constant(0) });
  }
  return out;
}

/**
 * Every tensor of spec §1.3 for `s`, PyTorch layouts (Linear [out, in], Conv2d OIHW). Scales follow CLIP's
 * initialiser in spirit (linear N(0, 0.02), LayerNorm weight 1 bias 0) so activations stay finite and away from
 * denormals, which would distort timings.
 */
export function tensorSpecs(s: ModelShape): TensorSpec[] {
  const v = s.vision;
  const t = s.text;
  const g = s.imageSize / s.patchSize;
  const P = s.projection;
  return [
    { name: 'logit_scale', shape: [], init: constant(Math.log(100)) },
    { name: 'logit_scale_finegraind', shape: [], init: constant(Math.log(100)) },
    { name: 'logit_scale_hardneg', shape: [], init: constant(Math.log(100)) },
    { name: 'text_model.embeddings.token_embedding.weight', shape: [VOCAB, t.hidden], init: normal(0.02) },
    { name: 'text_model.embeddings.position_embedding.weight', shape: [SHORT_POSITIONS, t.hidden], init: normal(0.01) },
    { name: 'text_model.embeddings.position_embedding_res.weight', shape: [LONG_POSITIONS, t.hidden], init: normal(0.01) },
    { name: 'text_model.embeddings.position_embedding_ori.weight', shape: [LONG_POSITIONS, t.hidden], init: normal(0.01) },
    ...towerLayers('text_model', t.hidden, t.mlp, t.layers),
    { name: 'text_model.final_layer_norm.weight', shape: [t.hidden], init: constant(1) },
    { name: 'text_model.final_layer_norm.bias', shape: [t.hidden], init: constant(0) },
    { name: 'vision_model.embeddings.class_embedding', shape: [v.hidden], init: normal(0.02) },
    { name: 'vision_model.embeddings.patch_embedding.weight', shape: [v.hidden, 3, s.patchSize, s.patchSize], init: normal(0.02) },
    { name: 'vision_model.embeddings.position_embedding.weight', shape: [g * g + 1, v.hidden], init: normal(0.02) },
    { name: 'vision_model.pre_layrnorm.weight', shape: [v.hidden], init: constant(1) },
    { name: 'vision_model.pre_layrnorm.bias', shape: [v.hidden], init: constant(0) },
    ...towerLayers('vision_model', v.hidden, v.mlp, v.layers),
    { name: 'vision_model.post_layernorm.weight', shape: [v.hidden], init: constant(1) },
    { name: 'vision_model.post_layernorm.bias', shape: [v.hidden], init: constant(0) },
    { name: 'visual_projection.weight', shape: [P, v.hidden], init: normal(0.02) },
    { name: 'text_projection.weight', shape: [P, t.hidden], init: normal(0.02) },
    { name: 'text_filip_projection.weight', shape: [P, t.hidden], init: normal(0.02) },
  ];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parameter count of a model (spec §1.3: base 150,136,835; large 428,914,947). */
export function parameterCount(s: ModelShape): number {
  return tensorSpecs(s).reduce((a, t) => a + numel(t.shape), 0);
}

/** HF CLIPConfig layout as FGCLIPModel saves it (every field written, no reliance on class defaults). */
export function configJson(s: ModelShape): object {
  const tower = (x: ModelShape['text']) => ({
    hidden_size: x.hidden,
    intermediate_size: x.mlp,
    num_hidden_layers: x.layers,
    num_attention_heads: x.heads,
    hidden_act: 'quick_gelu',
    layer_norm_eps: 1e-5,
    projection_dim: s.projection,
  });
  return {
    architectures: ['FGCLIPModel'],
    model_type: 'clip',
    projection_dim: s.projection,
    logit_scale_init_value: 2.6592,
    initializer_factor: 1.0,
    torch_dtype: 'float32',
    text_config: {
      ...tower(s.text),
      model_type: 'clip_text_model',
      vocab_size: VOCAB,
      max_position_embeddings: SHORT_POSITIONS,
      bos_token_id: 49406,
      eos_token_id: 49407,
      pad_token_id: 49407,
    },
    vision_config: { ...tower(s.vision), model_type: 'clip_vision_model', num_channels: 3, image_size: s.imageSize, patch_size: s.patchSize },
  };
}

/** OpenAI CLIP's CLIPImageProcessor settings (spec §4) at the model's resolution. */
export function preprocessorJson(s: ModelShape): object {
  return {
    image_processor_type: 'CLIPImageProcessor',
    do_resize: true,
    size: { shortest_edge: s.imageSize },
    resample: 3,
    do_center_crop: true,
    crop_size: { height: s.imageSize, width: s.imageSize },
    do_rescale: true,
    rescale_factor: 0.00392156862745098,
    do_normalize: true,
    do_convert_rgb: true,
    image_mean: [0.48145466, 0.4578275, 0.40821073],
    image_std: [0.26862954, 0.26130258, 0.27577711],
  };
}

/** xoshiro128** (Blackman & Vigna), seeded through splitmix32: fast, deterministic, good enough for weights. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = NaN;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split() || 1;
  }

  /** uniform 32-bit unsigned integer */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** standard normal (Box–Muller, pairs cached) */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = NaN;
      return v;
    }
    const u1 = (this.nextU32() + 1) / 4294967297; // (0, 1]: log is finite
    const u2 = this.nextU32() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Seed per tensor from its name, so one tensor's values do not depend on the order or presence of others. */
export function seedOf(name: string): number {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Fills `out` with the next values of a tensor. */
function fill(out: Float32Array, init: Init, rng: Rng): void {
  if (init.kind === 'const') {
    out.fill(init.value);
    return;
  }
  for (let i = 0; i < out.length; i++) out[i] = rng.normal() * init.std;
}

/** The safetensors header for `specs` (F32, in order), padded with spaces so the data starts 8-byte aligned. */
export function safetensorsHeader(specs: readonly TensorSpec[]): { header: Uint8Array; dataBytes: number } {
  const json: Record<string, unknown> = { __metadata__: { format: 'pt', generator: `fgclip bench synthetic ${SYNTHETIC_VERSION}` } };
  let off = 0;
  for (const t of specs) {
    const n = numel(t.shape) * 4;
    json[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let text = JSON.stringify(json);
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const body = Buffer.from(text, 'utf8');
  const header = new Uint8Array(8 + body.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(body.length), true);
  header.set(body, 8);
  return { header, dataBytes: off };
}

/** Streams a model.safetensors for `specs` to `file` (chunked; never more than CHUNK values in memory). */
export function writeSafetensors(file: string, specs: readonly TensorSpec[]): number {
  const { header, dataBytes } = safetensorsHeader(specs);
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, header);
    const buf = new Float32Array(CHUNK);
    const bytes = new Uint8Array(buf.buffer);
    for (const t of specs) {
      const rng = new Rng(seedOf(t.name));
      let left = numel(t.shape);
      while (left > 0) {
        const n = Math.min(left, CHUNK);
        const view = buf.subarray(0, n);
        fill(view, t.init, rng);
        writeSync(fd, bytes, 0, n * 4);
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
  return header.length + dataBytes;
}

export function benchCacheDir(): string {
  return resolve(process.env.FGCLIP_BENCH_DIR ?? join(REPO_ROOT, '.cache', 'bench'));
}

export interface SyntheticCheckpoint {
  readonly name: string;
  readonly dir: string;
  readonly shape: ModelShape;
  readonly parameters: number;
  /** fp32 weight bytes (parameters × 4) */
  readonly weightBytes: number;
  /** whether this call wrote the files (false: reused from the cache) */
  readonly generated: boolean;
  /** seconds spent generating (0 when reused) */
  readonly seconds: number;
}

/**
 * The cached checkpoint folder for `name`, writing it first when absent. Files go to a temp folder renamed into
 * place at the end, so an interrupted run never leaves a half-written checkpoint that looks complete.
 */
export function ensureSyntheticCheckpoint(name: ModelName, root = benchCacheDir(), log: (m: string) => void = () => undefined): SyntheticCheckpoint {
  return ensureCheckpoint(name, SHAPES[name], root, log);
}

/** `ensureSyntheticCheckpoint` for any shape, cached under `fg-clip-<name>-synthetic-<VERSION>`. */
export function ensureCheckpoint(name: string, shape: ModelShape, root: string, log: (m: string) => void = () => undefined): SyntheticCheckpoint {
  const parameters = parameterCount(shape);
  const dir = join(root, `fg-clip-${name}-synthetic-${SYNTHETIC_VERSION}`);
  const base = { name, dir, shape, parameters, weightBytes: parameters * 4 };
  if (existsSync(join(dir, 'complete.json'))) return { ...base, generated: false, seconds: 0 };
  const t0 = performance.now();
  log(`writing synthetic fg-clip-${name} (${(parameters / 1e6).toFixed(1)} M parameters, ${((parameters * 4) / 1e9).toFixed(2)} GB) to ${dir}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'config.json'), JSON.stringify(configJson(shape), null, 2));
  writeFileSync(join(tmp, 'preprocessor_config.json'), JSON.stringify(preprocessorJson(shape), null, 2));
  for (const f of TOKENIZER_FILES) {
    copyFileSync(join(GOLDEN_TOKENIZER_DIR, f), join(tmp, f));
    chmodSync(join(tmp, f), 0o644); // the goldens are read-only; the cache copy should be deletable as usual
  }
  const size = writeSafetensors(join(tmp, 'model.safetensors'), tensorSpecs(shape));
  const seconds = (performance.now() - t0) / 1000;
  writeFileSync(join(tmp, 'complete.json'), JSON.stringify({ version: SYNTHETIC_VERSION, parameters, bytes: size, seconds }, null, 2));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { ...base, generated: true, seconds };
}
