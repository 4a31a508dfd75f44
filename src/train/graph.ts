/**
 * FG-CLIP v1 in training mode on the autodiff tape: the reference layout with no inference folds (Linear weights
 * [out, in] used through a Transpose node, q scaled after q_proj, the patch Conv as a MatMul since stride = kernel),
 * every parameter a graph input named as the checkpoint names it, and the reference's losses (fgclip.py:300-540)
 * in float32 (the reference's bf16 casts are a speed artefact and are dropped).
 *
 * Three graphs are built from the same pieces:
 *  - `towers`: one chunk of the batch → its embeddings (image, long text, the 77-row texts, box and hard-box regions),
 *    optionally with the backward pass seeded by the embeddings' gradients (the two-pass big-batch scheme);
 *  - `loss`: all embeddings of the batch + the three logit scales → loss, parts, and their gradients;
 *  - `full`: towers → loss → backward in one graph (single pass).
 * Region features: RoIAlign 1×1 aligned is linear in the dense map, so it is a per-batch constant matrix
 * [K, b·N] of exact torchvision weights (roi-matrix.ts) times the flattened dense map. Text pooling and the causal
 * mask are per-batch inputs too (first end token; exact cut after the batch's last end token).
 * Platform-free.
 */
import type { Activation, FgClipConfig, TowerConfig } from '../config/types.js';
import { Tape, type FloatType, type Value } from '../graph/autodiff/tape.js';
import type { BuiltModel } from '../graph/onnx-builder.js';
import { layerNormalization, linearTransposed, mlpActivation } from './recompute-ops.js';

export const REGION_WEIGHT = 0.1;
export const HARD_NEGATIVE_WEIGHT = 0.5;
/** texts per hard box: the positive and its 10 negatives (fgclip.py hard_contrastive_loss) */
export const HARD_GROUP = 11;

/** Graph input / output names shared by the builder and the engine. */
export const IO = {
  pixels: 'pixel_values',
  longIds: 'long_input_ids',
  longMask: 'long_causal_mask',
  longPool: 'long_pool_index',
  longPos: 'long_position_ids',
  shortIds: 'short_input_ids',
  shortMask: 'short_causal_mask',
  shortPool: 'short_pool_index',
  shortPos: 'short_position_ids',
  boxRoi: 'box_roi_matrix',
  hardRoi: 'hard_roi_matrix',
  /** [3]: how many of the 77-row texts are short captions, box texts and hard texts */
  shortSplit: 'short_split',
  image: 'image_embeds',
  long: 'long_text_embeds',
  short: 'short_text_embeds',
  boxRegion: 'box_region_embeds',
  hardRegion: 'hard_region_embeds',
  /** loss graph only: the short-path embeddings of box texts and hard texts */
  boxText: 'box_text_embeds',
  hardText: 'hard_text_embeds',
  loss: 'loss',
  parts: ['itc_long', 'itc_short', 'region', 'hard_negative'] as const,
} as const;

export const gradName = (name: string) => `grad:${name}`;
/** The token embedding's gradient is sparse: the graph outputs d loss / d looked-up rows (`grad_rows:<ids input>`). */
export const TOKEN_EMBEDDING = 'text_model.embeddings.token_embedding.weight';
export const rowsGradName = (ids: string) => `grad_rows:${ids}`;
export const seedName = (name: string) => `seed:${name}`;

/** What a chunk/batch contains: decides which branches exist in the graph. */
export interface GraphVariant {
  readonly stage: 1 | 2;
  /** stage 2: at least one valid box in this chunk/batch */
  readonly boxes: boolean;
  /** stage 2: at least one hard box */
  readonly hard: boolean;
}

export interface BuildOptions {
  readonly dtype?: FloatType;
  /** parameters that get no gradient */
  readonly frozen?: ReadonlySet<string>;
  readonly regionWeight?: number;
  readonly hardNegativeWeight?: number;
}

export interface TrainGraph {
  readonly built: BuiltModel;
  /** parameters the graph reads, in declaration order */
  readonly params: readonly string[];
  /** parameters whose gradient is an output (`grad:<name>`) */
  readonly gradParams: readonly string[];
  /** embedding outputs (towers) or embedding inputs (loss) present in this variant */
  readonly embeds: readonly string[];
  /**
   * Id inputs whose looked-up token-embedding rows have their gradient as an output (`rowsGradName(ids)`, shaped
   * [...ids dims, D]): the engine scatter-adds them into the [vocab, D] gradient of `TOKEN_EMBEDDING` (see
   * `tokenEmbedding`). Empty when the token embedding is frozen or the graph has no backward.
   */
  readonly tokenRows: readonly string[];
}

/** Lazily declared parameters (only those a graph uses become inputs). */
export class Params {
  readonly declared: string[] = [];
  private readonly values = new Map<string, Value>();
  constructor(
    private readonly t: Tape,
    private readonly shapes: ReadonlyMap<string, readonly number[]>,
    private readonly frozen: ReadonlySet<string>,
  ) {}
  get(name: string): Value {
    let v = this.values.get(name);
    if (!v) {
      const shape = this.shapes.get(name);
      if (!shape) throw new Error(`training graph: unknown parameter ${name}`);
      v = this.t.input(name, shape, { diff: !this.frozen.has(name) });
      this.values.set(name, v);
      this.declared.push(name);
    }
    return v;
  }
}

/** What the blocks below need: the tape and the parameters (other families' training graphs build on them). */
export interface BlockCtx {
  readonly t: Tape;
  readonly p: Params;
}

interface Ctx extends BlockCtx {
  readonly cfg: FgClipConfig;
  /** token-embedding row gradients caught by the reverse pass, by id input (see `tokenEmbedding`) */
  readonly tokenRows: Map<string, Value>;
}

// ---- blocks ------------------------------------------------------------------------------------------------------

export function linear(c: BlockCtx, path: string, x: Value, bias = true): Value {
  const w = c.p.get(`${path}.weight`);
  const y = linearTransposed(c.t, x, w, path);
  return bias ? c.t.add(y, c.p.get(`${path}.bias`), `${path}.bias_add`) : y;
}

export function layerNorm(c: BlockCtx, path: string, x: Value, eps: number, name = path): Value {
  return layerNormalization(c.t, x, c.p.get(`${path}.weight`), c.p.get(`${path}.bias`), eps, name);
}

export function activation(c: BlockCtx, path: string, x: Value, act: Activation): Value {
  return mlpActivation(c.t, path, x, act);
}

export function encoderLayer(c: BlockCtx, path: string, x: Value, tc: TowerConfig, mask?: Value): Value {
  const t = c.t;
  const D = tc.hidden_size;
  const H = tc.num_attention_heads;
  const Dh = D / H;
  const a = `${path}.self_attn`;
  const h = layerNorm(c, `${path}.layer_norm1`, x, tc.layer_norm_eps);
  // modeling_clip.py:313-336: q = q_proj(x) * head_dim^-0.5
  const q = t.mul(linear(c, `${a}.q_proj`, h), t.constant(Dh ** -0.5), `${a}.q_scale`);
  const k = linear(c, `${a}.k_proj`, h);
  const v = linear(c, `${a}.v_proj`, h);
  const heads = (y: Value, perm: number[], n: string) => t.transpose(t.reshape(y, [0, 0, H, Dh], `${a}.${n}_reshape`), perm, `${a}.${n}_heads`);
  let w = t.matmul(heads(q, [0, 2, 1, 3], 'q'), heads(k, [0, 2, 3, 1], 'k'), `${a}.scores`); // [b, H, T, T]
  if (mask) w = t.add(w, mask, `${a}.mask_add`);
  const p = t.op1('Softmax', [w], { axis: -1 }, { name: `${a}.softmax` });
  const o = t.matmul(p, heads(v, [0, 2, 1, 3], 'v'), `${a}.context`); // [b, H, T, Dh]
  const merged = t.reshape(t.transpose(o, [0, 2, 1, 3], `${a}.context_t`), [0, 0, D], `${a}.merge`);
  const r1 = t.add(x, linear(c, `${a}.out_proj`, merged), `${path}.residual1`);
  const m = linear(
    c,
    `${path}.mlp.fc2`,
    activation(c, `${path}.mlp.activation_fn`, linear(c, `${path}.mlp.fc1`, layerNorm(c, `${path}.layer_norm2`, r1, tc.layer_norm_eps)), tc.hidden_act),
  );
  return t.add(r1, m, `${path}.residual2`);
}

/** fgclip.py:247-261 `forward_without_attn`, with the last layer's weights. */
function encoderLayerWithoutAttn(c: Ctx, path: string, x: Value, tc: TowerConfig): Value {
  const t = c.t;
  const a = `${path}.self_attn`;
  const n = `${path}.without_attn`;
  const v = linear(c, `${a}.v_proj`, layerNorm(c, `${path}.layer_norm1`, x, tc.layer_norm_eps, `${n}.layer_norm1`));
  const r1 = t.add(x, linear(c, `${a}.out_proj`, v), `${n}.residual1`);
  const m = linear(
    c,
    `${path}.mlp.fc2`,
    activation(
      c,
      `${n}.mlp.activation_fn`,
      linear(c, `${path}.mlp.fc1`, layerNorm(c, `${path}.layer_norm2`, r1, tc.layer_norm_eps, `${n}.layer_norm2`)),
      tc.hidden_act,
    ),
  );
  return t.add(r1, m, `${n}.residual2`);
}

/** Vision tower: pixels [b, C, S, S] → image embeds [b, P] and (when `dense`) dense embeds [b, N, P]. */
function visionTower(c: Ctx, px: Value, dense: boolean): { image: Value; dense?: Value } {
  const t = c.t;
  const vc = c.cfg.vision_config;
  const vm = 'vision_model';
  const p = vc.patch_size;
  const C = vc.num_channels;
  const g = vc.image_size / p;
  const N = g * g;
  const D = vc.hidden_size;
  const P = c.cfg.projection_dim;
  // patch_embedding: Conv2d with stride = kernel is a MatMul over non-overlapping patches (flattened C, ky, kx)
  const patches = t.reshape(
    t.transpose(t.reshape(px, [0, C, g, p, g, p], `${vm}.embeddings.patchify`), [0, 2, 4, 1, 3, 5], `${vm}.embeddings.patch_order`),
    [0, N, C * p * p],
    `${vm}.embeddings.patch_rows`,
  );
  const convW = t.reshape(c.p.get(`${vm}.embeddings.patch_embedding.weight`), [D, C * p * p], `${vm}.embeddings.patch_weight`);
  const tokens = linearTransposed(t, patches, convW, `${vm}.embeddings.patch_embedding`); // [b, N, D]
  const cls = t.reshape(c.p.get(`${vm}.embeddings.class_embedding`), [1, 1, D]);
  const clsShape = t.op1(
    'Concat',
    [t.op1('Shape', [px], { start: 0, end: 1 }, { dims: [[1]], types: ['int64'] }), t.ints([1, D])],
    { axis: 0 },
    { dims: [[3]] },
  );
  const clsB = t.op1('Expand', [cls, clsShape], {}, { name: `${vm}.embeddings.cls_expand`, dims: [[px.dims[0], 1, D]] });
  let x = t.add(
    t.op1('Concat', [clsB, tokens], { axis: 1 }, { name: `${vm}.embeddings.concat` }),
    c.p.get(`${vm}.embeddings.position_embedding.weight`),
    `${vm}.embeddings.position_add`,
  );
  x = layerNorm(c, `${vm}.pre_layrnorm`, x, vc.layer_norm_eps);
  let penultimate = x;
  for (let i = 0; i < vc.num_hidden_layers; i++) {
    if (i === vc.num_hidden_layers - 1) penultimate = x;
    x = encoderLayer(c, `${vm}.encoder.layers.${i}`, t.mark(x), vc);
  }
  const proj = c.p.get('visual_projection.weight');
  const clsOut = t.op1('Squeeze', [t.op1('Slice', [x, t.ints([0]), t.ints([1]), t.ints([1])], {}, { name: `${vm}.pooler` }), t.ints([1])]); // [b, D]
  const image = linearTransposed(t, layerNorm(c, `${vm}.post_layernorm`, clsOut, vc.layer_norm_eps), proj, 'visual_projection');
  if (!dense) return { image };
  const y = encoderLayerWithoutAttn(c, `${vm}.encoder.layers.${vc.num_hidden_layers - 1}`, penultimate, vc);
  const patchTokens = t.op1('Slice', [y, t.ints([1]), t.ints([N + 1]), t.ints([1])], {}, { name: `${vm}.dense.drop_cls` });
  const d = linearTransposed(
    t,
    layerNorm(c, `${vm}.post_layernorm`, patchTokens, vc.layer_norm_eps, `${vm}.post_layernorm.dense`),
    proj,
    'visual_projection.dense',
  );
  void P;
  return { image, dense: d };
}

/**
 * Text tower for one position regime: ids [n, T] → pooled, final-layer-normed states [n, D]. `positions` is the
 * position table of the mode; `posIds` [T] = 0..T-1; pooling reads flat rows n·T + first-eos (modeling_clip.py:825-844).
 */
/**
 * The token-embedding lookup. Its gradient with respect to the [vocab, D] table is zero except on the batch's ids
 * (a few thousand of 49 408 rows): written op by op it is a ScatterND into a zeroed table per text path, their sum,
 * and a 100 MB graph output per step. Instead the lookup is a composite op whose reverse pass hands over the
 * gradient of the looked-up rows (an output of the graph, `rowsGradName`), and the engine adds the rows into the
 * table's gradient in JavaScript.
 */
function tokenEmbedding(c: Ctx, ids: Value): Value {
  const t = c.t;
  const w = c.p.get(TOKEN_EMBEDDING);
  const gather = () => t.op1('Gather', [w, ids], { axis: 0 }, { name: 'text_model.embeddings.token_embedding' });
  if (!w.diff) return gather();
  return t.composite(
    [w, ids],
    gather,
    (_t, _x, _y, dy) => {
      c.tokenRows.set(ids.name, dy);
      return [undefined, undefined];
    },
    'text_model.embeddings.token_embedding',
  );
}

function textTower(c: Ctx, ids: Value, positions: Value, posIds: Value, mask: Value, pool: Value): Value {
  const t = c.t;
  const tc = c.cfg.text_config;
  const tm = 'text_model';
  const D = tc.hidden_size;
  const tok = tokenEmbedding(c, ids);
  let x = t.add(tok, t.op1('Gather', [positions, posIds], { axis: 0 }, { name: `${tm}.embeddings.position_embedding` }), `${tm}.embeddings.position_add`);
  for (let i = 0; i < tc.num_hidden_layers; i++) x = encoderLayer(c, `${tm}.encoder.layers.${i}`, t.mark(x), tc, mask);
  const rows = t.reshape(x, [-1, D], `${tm}.pool_flatten`);
  const pooled = t.op1('Gather', [rows, pool], { axis: 0 }, { name: `${tm}.pool` });
  // final_layer_norm is per token: applying it to the pooled rows only is the same computation
  return layerNorm(c, `${tm}.final_layer_norm`, pooled, tc.layer_norm_eps);
}

function textInputs(c: Ctx, prefix: 'long' | 'short', n: string) {
  const t = c.t;
  return {
    ids: t.input(prefix === 'long' ? IO.longIds : IO.shortIds, [n, `T_${prefix}`], { type: 'int64' }),
    mask: t.input(prefix === 'long' ? IO.longMask : IO.shortMask, [`T_${prefix}`, `T_${prefix}`]),
    pool: t.input(prefix === 'long' ? IO.longPool : IO.shortPool, [n], { type: 'int64' }),
    pos: t.input(prefix === 'long' ? IO.longPos : IO.shortPos, [`T_${prefix}`], { type: 'int64' }),
  };
}

interface TowerOut {
  image: Value;
  long: Value;
  short: Value;
  boxRegion?: Value;
  hardRegion?: Value;
}

function towers(c: Ctx, v: GraphVariant): TowerOut {
  const t = c.t;
  const cfg = c.cfg;
  const tm = 'text_model.embeddings';
  const px = t.input(IO.pixels, ['b', cfg.vision_config.num_channels, cfg.vision_config.image_size, cfg.vision_config.image_size]);
  const vis = visionTower(c, px, v.stage === 2 && (v.boxes || v.hard));
  // long captions: position_embedding_ori rows 0..keep-1, position_embedding_res rows keep..247; text_filip_projection
  const keep = cfg.long_keep_length;
  const L = cfg.long_max_length;
  const longTable = t.op1(
    'Concat',
    [
      t.op1('Slice', [c.p.get(`${tm}.position_embedding_ori.weight`), t.ints([0]), t.ints([keep]), t.ints([0])]),
      t.op1('Slice', [c.p.get(`${tm}.position_embedding_res.weight`), t.ints([keep]), t.ints([L]), t.ints([0])]),
    ],
    { axis: 0 },
    { name: `${tm}.long_positions` },
  );
  const li = textInputs(c, 'long', 'b');
  const long = linearTransposed(t, textTower(c, li.ids, longTable, li.pos, li.mask, li.pool), c.p.get('text_filip_projection.weight'), 'text_filip_projection');
  // short captions, box texts and hard texts share the 77-row table and text_projection: one pass
  const si = textInputs(c, 'short', 'n_short');
  const short = linearTransposed(
    t,
    textTower(c, si.ids, c.p.get(`${tm}.position_embedding.weight`), si.pos, si.mask, si.pool),
    c.p.get('text_projection.weight'),
    'text_projection',
  );
  const out: TowerOut = { image: vis.image, long, short };
  if (vis.dense) {
    const P = cfg.projection_dim;
    const flat = t.reshape(vis.dense, [-1, P], 'dense_rows'); // [b·N, P]
    if (v.boxes) out.boxRegion = t.matmul(t.input(IO.boxRoi, ['K', 'bN']), flat, 'box_roi_align');
    if (v.hard) out.hardRegion = t.matmul(t.input(IO.hardRoi, ['V', 'bN']), flat, 'hard_roi_align');
  }
  return out;
}

// ---- losses ------------------------------------------------------------------------------------------------------

export function l2normalize(t: Tape, x: Value, name: string): Value {
  return t.div(x, t.op1('Sqrt', [t.reduceSum(t.mul(x, x), [-1], true)]), name);
}

/** Mean over rows of −log_softmax(logits, axis)[i, i]: cross-entropy with identity targets. */
export function diagonalCrossEntropy(t: Tape, logits: Value, axis: number, name: string): Value {
  const ls = t.op1('LogSoftmax', [logits], { axis }, { name });
  const eye = t.op1('EyeLike', [logits]);
  const diag = t.reduceSum(t.mul(ls, eye), [1 - axis], false, `${name}.diag`);
  return t.op1('Neg', [t.op1('ReduceMean', [diag], { axes: [0], keepdims: 0 }, { name: `${name}.mean` })]);
}

/** Symmetric InfoNCE with scale exp(logScale) (fgclip.py clip_loss / pairwise_contrastive_loss). */
export function symmetricInfoNce(t: Tape, a: Value, b: Value, logScale: Value, name: string): Value {
  const logits = t.mul(t.matmul(a, t.transpose(b, [1, 0])), t.op1('Exp', [logScale]), `${name}.logits`);
  const sum = t.add(diagonalCrossEntropy(t, logits, 1, `${name}.a2b`), diagonalCrossEntropy(t, logits, 0, `${name}.b2a`));
  return t.mul(sum, t.constant(0.5), name);
}

/** Per hard box: 11-way CE over <region, text_j> · exp(logit_scale_hardneg), positive at index 0. */
function hardNegativeLoss(t: Tape, region: Value, texts: Value, logScale: Value, P: number): Value {
  const grouped = t.reshape(texts, [-1, HARD_GROUP, P], 'hard_texts_grouped'); // [V, 11, P]
  const r = t.op1('Unsqueeze', [region, t.ints([1])]); // [V, 1, P]
  const logits = t.mul(t.reduceSum(t.mul(grouped, r), [2], false, 'hard_logits'), t.op1('Exp', [logScale]), 'hard_logits_scaled'); // [V, 11]
  const ls = t.op1('LogSoftmax', [logits], { axis: 1 }, { name: 'hard_logsoftmax' });
  const pos = t.op1('Slice', [ls, t.ints([0]), t.ints([1]), t.ints([1])]); // [V, 1]
  return t.op1('Neg', [t.op1('ReduceMean', [pos], { axes: [0, 1], keepdims: 0 }, { name: 'hard_mean' })]);
}

interface LossOut {
  total: Value;
  parts: Value[];
}

/** The reference objective from the batch's embeddings (unnormalized projections). */
function losses(
  c: Ctx,
  v: GraphVariant,
  e: { image: Value; long: Value; short: Value; boxText?: Value; boxRegion?: Value; hardText?: Value; hardRegion?: Value },
  o: BuildOptions,
): LossOut {
  const t = c.t;
  const P = c.cfg.projection_dim;
  const img = l2normalize(t, e.image, 'image_norm');
  const itcLong = symmetricInfoNce(t, img, l2normalize(t, e.long, 'long_norm'), c.p.get('logit_scale'), 'itc_long');
  const itcShort = symmetricInfoNce(t, img, l2normalize(t, e.short, 'short_norm'), c.p.get('logit_scale'), 'itc_short');
  let total = t.add(itcLong, itcShort, 'loss_itc');
  let region: Value | undefined;
  let hard: Value | undefined;
  if (v.stage === 2 && v.boxes && e.boxText && e.boxRegion) {
    region = symmetricInfoNce(
      t,
      l2normalize(t, e.boxRegion, 'box_region_norm'),
      l2normalize(t, e.boxText, 'box_text_norm'),
      c.p.get('logit_scale_finegraind'),
      'region',
    );
    total = t.add(total, t.mul(region, t.constant(o.regionWeight ?? REGION_WEIGHT)), 'loss_region_add');
  }
  if (v.stage === 2 && v.hard && e.hardText && e.hardRegion) {
    hard = hardNegativeLoss(
      t,
      l2normalize(t, e.hardRegion, 'hard_region_norm'),
      l2normalize(t, e.hardText, 'hard_text_norm'),
      c.p.get('logit_scale_hardneg'),
      P,
    );
    total = t.add(total, t.mul(hard, t.constant(o.hardNegativeWeight ?? HARD_NEGATIVE_WEIGHT)), 'loss_hard_add');
  }
  // absent parts are 0 (a constant made only when needed: ORT warns about unused initializers)
  return { total, parts: [itcLong, itcShort, region ?? t.constant(0), hard ?? t.constant(0)] };
}

/** Splits the 77-row text embeddings into short captions, box texts and hard texts (sizes fed at run time). */
function splitShort(c: Ctx, v: GraphVariant, short: Value): { short: Value; boxText?: Value; hardText?: Value } {
  if (v.stage === 1 || (!v.boxes && !v.hard)) return { short };
  const t = c.t;
  const sizes = t.input(IO.shortSplit, [3], { type: 'int64' });
  const P = c.cfg.projection_dim;
  const [s, b, h] = t.op(
    'Split',
    [short, sizes],
    { axis: 0 },
    {
      nOut: 3,
      name: 'short_split',
      dims: [
        ['b', P],
        ['K', P],
        ['HT', P],
      ],
    },
  );
  return { short: s, boxText: v.boxes ? b : undefined, hardText: v.hard ? h : undefined };
}

// ---- the three graphs --------------------------------------------------------------------------------------------

function newCtx(name: string, cfg: FgClipConfig, shapes: ReadonlyMap<string, readonly number[]>, o: BuildOptions): Ctx {
  const t = new Tape(name, o.dtype ?? 'float');
  return { t, p: new Params(t, shapes, o.frozen ?? new Set()), cfg, tokenRows: new Map() };
}

/** Declares the caught token-embedding row gradients as outputs; returns their id inputs. */
function tokenRowsOutputs(c: Ctx): string[] {
  for (const [ids, d] of c.tokenRows) c.t.output(d, rowsGradName(ids));
  return [...c.tokenRows.keys()];
}

export function gradOutputs(c: BlockCtx, grads: Map<string, Value>): string[] {
  const out: string[] = [];
  for (const name of c.p.declared) {
    const g = grads.get(name);
    if (!g) continue;
    c.t.output(g, gradName(name));
    out.push(name);
  }
  return out;
}

/** One chunk's towers → embeddings; with `backward`, the gradients of the parameters seeded by `seed:<embed>` inputs. */
export function buildTowerGraph(
  cfg: FgClipConfig,
  shapes: ReadonlyMap<string, readonly number[]>,
  v: GraphVariant,
  backward: boolean,
  o: BuildOptions = {},
): TrainGraph {
  const c = newCtx(backward ? 'fgclip_train_towers_backward' : 'fgclip_train_towers', cfg, shapes, o);
  const out = towers(c, v);
  const embeds: [string, Value][] = [
    [IO.image, out.image],
    [IO.long, out.long],
    [IO.short, out.short],
  ];
  if (out.boxRegion) embeds.push([IO.boxRegion, out.boxRegion]);
  if (out.hardRegion) embeds.push([IO.hardRegion, out.hardRegion]);
  let gradParams: string[] = [];
  if (backward) {
    const seeds = embeds.map(([n, val]) => [val, c.t.input(seedName(n), val.dims)] as const);
    gradParams = gradOutputs(c, c.t.backward(seeds));
  } else for (const [n, val] of embeds) c.t.output(val, n);
  const tokenRows = tokenRowsOutputs(c);
  return { built: c.t.build(), params: c.p.declared, gradParams, embeds: embeds.map(([n]) => n), tokenRows };
}

/** Embeddings of the whole batch → loss, parts, d loss / d embeddings (`grad:<embed>`), d loss / d logit scales. */
export function buildLossGraph(cfg: FgClipConfig, shapes: ReadonlyMap<string, readonly number[]>, v: GraphVariant, o: BuildOptions = {}): TrainGraph {
  const c = newCtx('fgclip_train_loss', cfg, shapes, o);
  const t = c.t;
  const P = cfg.projection_dim;
  const e = {
    image: t.input(IO.image, ['B', P], { diff: true }),
    long: t.input(IO.long, ['B', P], { diff: true }),
    short: t.input(IO.short, ['B', P], { diff: true }),
    boxText: v.stage === 2 && v.boxes ? t.input(IO.boxText, ['K', P], { diff: true }) : undefined,
    boxRegion: v.stage === 2 && v.boxes ? t.input(IO.boxRegion, ['K', P], { diff: true }) : undefined,
    hardText: v.stage === 2 && v.hard ? t.input(IO.hardText, ['HT', P], { diff: true }) : undefined,
    hardRegion: v.stage === 2 && v.hard ? t.input(IO.hardRegion, ['V', P], { diff: true }) : undefined,
  };
  const l = losses(c, v, e, o);
  t.output(l.total, IO.loss);
  l.parts.forEach((p, i) => t.output(p, IO.parts[i]));
  const grads = t.backward([[l.total, t.constant(1)]]);
  const embeds = Object.values(e)
    .filter((x): x is Value => !!x)
    .map((x) => x.name);
  for (const n of embeds) {
    const g = grads.get(n);
    if (!g) throw new Error(`training loss graph: no gradient reached ${n}`);
    t.output(g, gradName(n));
  }
  const gradParams = gradOutputs(c, grads);
  return { built: t.build(), params: c.p.declared, gradParams, embeds, tokenRows: [] };
}

/** Single pass: towers → loss → backward in one graph. */
export function buildFullGraph(cfg: FgClipConfig, shapes: ReadonlyMap<string, readonly number[]>, v: GraphVariant, o: BuildOptions = {}): TrainGraph {
  const c = newCtx('fgclip_train_step', cfg, shapes, o);
  const t = c.t;
  const out = towers(c, v);
  const s = splitShort(c, v, out.short);
  const l = losses(
    c,
    v,
    { image: out.image, long: out.long, short: s.short, boxText: s.boxText, boxRegion: out.boxRegion, hardText: s.hardText, hardRegion: out.hardRegion },
    o,
  );
  t.output(l.total, IO.loss);
  l.parts.forEach((p, i) => t.output(p, IO.parts[i]));
  const gradParams = gradOutputs(c, t.backward([[l.total, t.constant(1)]]));
  const tokenRows = tokenRowsOutputs(c);
  return { built: t.build(), params: c.p.declared, gradParams, embeds: [], tokenRows };
}
