/**
 * FG-CLIP 2 in training mode on the autodiff tape: `FG_CLIP2_Model.forward` with `add_box_loss` and `use_hard_neg`
 * (fgclip2.py:281-693, fgclip-spec §7.4) as one ONNX graph, towers → stage-2 loss → backward. Every parameter is a
 * graph input named as the checkpoint names it (the packed `in_proj_weight` of the two attention heads is sliced in
 * the graph, so its gradient comes back packed); float32 (the reference's bf16 casts are dropped).
 *
 *   loss = sig_long + sig_short + 0.2·region + 0.1·tic + 0.5·(0.6·hard_con + 3·hard_pair + 0.4·hard_cmr)
 *
 * Batch-dependent selections are graph inputs, not folds: RoIAlign 1×1 (aligned, adaptive sampling) is linear in the
 * dense map, so region features are a per-batch constant matrix [K, B·N] (each image's own h×w grid inside its N
 * slots) times the flattened dense map; the position grid resize is the per-image matrix of inference
 * (naflex.ts positionResizeMatrix); TIC's top-10 is chosen in the graph by TopK and applied as a 0/1 mask, so the
 * gradient flows exactly to the selected cosines. The 64-token texts (short captions, box texts, hard texts) share
 * one text pass and are split by sizes fed at run time. Text pooling is the last position, with no attention mask
 * (training passes none). Platform-free.
 */
import { Tape, type FloatType, type Value } from '../../graph/autodiff/tape.js';
import type { BuiltModel } from '../../graph/onnx-builder.js';
import { activation, encoderLayer, gradOutputs, l2normalize, layerNorm, linear, Params, symmetricInfoNce, type BlockCtx } from '../../train/graph.js';
import type { Fgclip2Config } from './config.js';

/** texts per hard box: the positive and its 10 negatives */
export const V2_HARD_GROUP = 11;
/** TIC keeps the 10 largest cosines per row (fgclip2.py hard_category_contrastive_loss) */
export const V2_TIC_TOP = 10;
export const V2_LOSS_WEIGHTS = { region: 0.2, tic: 0.1, hard: 0.5, hardCon: 0.6, hardPair: 3, hardCmr: 0.4 } as const;

export const V2_TRAIN_IO = {
  pixels: 'pixel_values',
  pixelMask: 'pixel_attention_mask',
  positionWeights: 'position_weights',
  /** [n, L] the 64-token texts: short captions, then box texts, then hard texts */
  texts: 'text_input_ids',
  /** [3] how many rows of `texts` are short captions, box texts, hard texts */
  textSplit: 'text_split',
  longIds: 'long_input_ids',
  boxRoi: 'box_roi_matrix',
  hardRoi: 'hard_roi_matrix',
  /** [1] int64: min(10, boxes) */
  ticK: 'tic_k',
  /** [] θ of the CMR term before the step */
  threshold: 'threshold',
  loss: 'loss',
  /** [V, 11] scaled logits of each hard box against its positive and negatives (for the next θ) */
  hardLogits: 'hard_pair_logits',
  parts: ['sig_long', 'sig_short', 'region', 'tic', 'hard_total', 'hard_con', 'hard_pair', 'hard_cmr'] as const,
} as const;

export type V2LossPart = (typeof V2_TRAIN_IO.parts)[number];

/** Which branches a batch needs (each combination is its own graph). */
export interface V2Variant {
  readonly long: boolean;
  readonly boxes: boolean;
  readonly hard: boolean;
  /** token length of the 64-token texts (static: pooling reads the last position) */
  readonly textLength: number;
}

export interface V2BuildOptions {
  readonly dtype?: FloatType;
  readonly frozen?: ReadonlySet<string>;
}

export interface V2TrainGraph {
  readonly built: BuiltModel;
  readonly params: readonly string[];
  readonly gradParams: readonly string[];
}

/** Shapes of every trainable tensor, as the checkpoint stores them (`dense_feature_head.probe` is unused: no gradient). */
export function fgclip2ParameterShapes(cfg: Fgclip2Config): Map<string, number[]> {
  const tc = cfg.text_config;
  const vc = cfg.vision_config;
  const D = tc.hidden_size;
  const m = new Map<string, number[]>();
  const lin = (path: string, out: number, inp: number) => m.set(`${path}.weight`, [out, inp]).set(`${path}.bias`, [out]);
  const ln = (path: string, d: number) => m.set(`${path}.weight`, [d]).set(`${path}.bias`, [d]);
  const layers = (prefix: string, d: number, inter: number, n: number) => {
    for (let i = 0; i < n; i++) {
      const p = `${prefix}.encoder.layers.${i}`;
      ln(`${p}.layer_norm1`, d);
      for (const x of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(`${p}.self_attn.${x}`, d, d);
      ln(`${p}.layer_norm2`, d);
      lin(`${p}.mlp.fc1`, inter, d);
      lin(`${p}.mlp.fc2`, d, inter);
    }
  };
  const head = (path: string, d: number, inter: number) => {
    m.set(`${path}.attention.in_proj_weight`, [3 * d, d]).set(`${path}.attention.in_proj_bias`, [3 * d]);
    lin(`${path}.attention.out_proj`, d, d);
    ln(`${path}.layernorm`, d);
    lin(`${path}.mlp.fc1`, inter, d);
    lin(`${path}.mlp.fc2`, d, inter);
  };
  m.set('logit_scale', [1]).set('logit_bias', [1]).set('logit_scale_finegraind', []).set('logit_scale_hardneg', []);
  m.set('text_model.embeddings.token_embedding.weight', [tc.vocab_size, D]);
  m.set('text_model.embeddings.position_embedding.weight', [tc.max_position_embeddings, D]);
  m.set('text_model.embeddings.position_embedding_ori.weight', [tc.longtext_len, D]);
  m.set('text_model.embeddings.position_embedding_res.weight', [tc.longtext_len, D]);
  layers('text_model', D, tc.intermediate_size, tc.num_hidden_layers);
  ln('text_model.final_layer_norm', D);
  lin('text_model.head', D, D);
  lin('longtext_head', D, D);
  lin('boxtext_head', D, D);
  const p = vc.patch_size;
  lin('vision_model.embeddings.patch_embedding', vc.hidden_size, 3 * p * p);
  m.set('vision_model.embeddings.position_embedding.weight', [vc.num_patches, vc.hidden_size]);
  layers('vision_model', vc.hidden_size, vc.intermediate_size, vc.num_hidden_layers);
  ln('vision_model.post_layernorm', vc.hidden_size);
  m.set('vision_model.head.probe', [1, 1, vc.hidden_size]);
  head('vision_model.head', vc.hidden_size, vc.intermediate_size);
  head('dense_feature_head', vc.hidden_size, vc.intermediate_size);
  return m;
}

/** Large negative added to padded keys' scores (exp gives exactly 0, as transformers' finfo.min does). */
const MASKED = -1e30;

/** [B, N] 1/0 mask → additive key bias [B, 1, 1, N]. */
function keyBias(t: Tape, mask: Value): Value {
  const bias = t.mul(t.sub(t.constant(1), mask), t.constant(MASKED), 'attention_mask.bias');
  return t.op1('Unsqueeze', [bias, t.ints([1, 2])], {}, { name: 'attention_mask.expand' });
}

/** `nn.MultiheadAttention` with packed q/k/v weights: queries `q` [b|1, Tq, D] over `kv` [B, Tk, D], padded keys masked. */
function packedAttention(c: BlockCtx, path: string, q: Value, kv: Value, D: number, H: number, bias: Value): Value {
  const t = c.t;
  const Dh = D / H;
  const W = c.p.get(`${path}.in_proj_weight`);
  const b = c.p.get(`${path}.in_proj_bias`);
  const proj = (x: Value, k: number, n: string) => {
    const w = t.op1('Slice', [W, t.ints([k * D]), t.ints([(k + 1) * D]), t.ints([0])], {}, { name: `${path}.${n}_weight` });
    const bb = t.op1('Slice', [b, t.ints([k * D]), t.ints([(k + 1) * D]), t.ints([0])], {}, { name: `${path}.${n}_bias` });
    return t.add(t.matmul(x, t.transpose(w, [1, 0])), bb, `${path}.${n}_proj`);
  };
  const heads = (y: Value, perm: number[], n: string) => t.transpose(t.reshape(y, [0, 0, H, Dh], `${path}.${n}_reshape`), perm, `${path}.${n}_heads`);
  const qs = t.mul(proj(q, 0, 'q'), t.constant(Dh ** -0.5), `${path}.q_scale`);
  const scores = t.add(t.matmul(heads(qs, [0, 2, 1, 3], 'q'), heads(proj(kv, 1, 'k'), [0, 2, 3, 1], 'k'), `${path}.scores`), bias, `${path}.mask_add`);
  const o = t.matmul(t.op1('Softmax', [scores], { axis: -1 }, { name: `${path}.softmax` }), heads(proj(kv, 2, 'v'), [0, 2, 1, 3], 'v'), `${path}.context`);
  const merged = t.reshape(t.transpose(o, [0, 2, 1, 3], `${path}.context_t`), [0, 0, D], `${path}.merge`);
  return linear(c, `${path}.out_proj`, merged);
}

/** Fgclip2MultiheadAttentionPoolingHead after its attention: x + MLP(LN(x)). */
function headMlp(c: BlockCtx, path: string, x: Value, cfg: Fgclip2Config['vision_config']): Value {
  const h = layerNorm(c, `${path}.layernorm`, x, cfg.layer_norm_eps);
  return c.t.add(
    x,
    linear(c, `${path}.mlp.fc2`, activation(c, `${path}.mlp.activation_fn`, linear(c, `${path}.mlp.fc1`, h), cfg.hidden_act)),
    `${path}.residual`,
  );
}

/** Vision tower: NaFlex patches → image features [B, D] (MAP head) and, when asked, dense features [B, N, D]. */
function visionTower(c: BlockCtx, cfg: Fgclip2Config, dense: boolean): { image: Value; dense?: Value } {
  const t = c.t;
  const vc = cfg.vision_config;
  const D = vc.hidden_size;
  const H = vc.num_attention_heads;
  const vm = 'vision_model';
  const px = t.input(V2_TRAIN_IO.pixels, ['B', 'N', 3 * vc.patch_size * vc.patch_size]);
  const mask = t.input(V2_TRAIN_IO.pixelMask, ['B', 'N']);
  const posW = t.input(V2_TRAIN_IO.positionWeights, ['B', 'N', vc.num_patches]);
  const pos = t.matmul(posW, c.p.get(`${vm}.embeddings.position_embedding.weight`), `${vm}.embeddings.resize_positional_embeddings`);
  let x = t.add(linear(c, `${vm}.embeddings.patch_embedding`, px), pos, `${vm}.embeddings`);
  const bias = keyBias(t, mask);
  for (let i = 0; i < vc.num_hidden_layers; i++) x = encoderLayer(c, `${vm}.encoder.layers.${i}`, x, vc, bias);
  const last = layerNorm(c, `${vm}.post_layernorm`, x, vc.layer_norm_eps);
  const hp = `${vm}.head`;
  const pooled = headMlp(c, hp, packedAttention(c, `${hp}.attention`, c.p.get(`${hp}.probe`), last, D, H, bias), vc); // [B, 1, D]
  const image = t.op1('Squeeze', [pooled, t.ints([1])], {}, { name: `${hp}.take_probe` });
  if (!dense) return { image };
  const dp = 'dense_feature_head';
  return { image, dense: headMlp(c, dp, packedAttention(c, `${dp}.attention`, last, last, D, H, bias), vc) };
}

/** Text tower, no attention mask: ids [n, L] with position rows `positions` [≥L, D] → final-layer-normed last position [n, D]. */
function textTower(c: BlockCtx, cfg: Fgclip2Config, ids: Value, positions: Value, L: number): Value {
  const t = c.t;
  const tc = cfg.text_config;
  const tm = 'text_model';
  const tok = t.op1('Gather', [c.p.get(`${tm}.embeddings.token_embedding.weight`), ids], { axis: 0 }, { name: `${tm}.embeddings.token_embedding` });
  const pos = t.op1('Slice', [positions, t.ints([0]), t.ints([L]), t.ints([0])], {}, { name: `${tm}.embeddings.position_rows` });
  let x = t.add(tok, pos, `${tm}.embeddings`);
  for (let i = 0; i < tc.num_hidden_layers; i++) x = encoderLayer(c, `${tm}.encoder.layers.${i}`, x, tc);
  const lastRow = t.op1('Slice', [x, t.ints([L - 1]), t.ints([L]), t.ints([1])], {}, { name: `${tm}.pooled_last_position` });
  // final_layer_norm is per token: applying it to the pooled row only is the same computation
  return layerNorm(c, `${tm}.final_layer_norm`, t.op1('Squeeze', [lastRow, t.ints([1])]), tc.layer_norm_eps);
}

/** −Σ logsigmoid(±(e^t·I·Tᵀ + b)) / B, + on the diagonal (fgclip2.py _loss); logsigmoid(z) = log_softmax([z, 0])[0]. */
function siglipLoss(t: Tape, img: Value, txt: Value, logScale: Value, logBias: Value, name: string): Value {
  const logits = t.add(t.mul(t.matmul(img, t.transpose(txt, [1, 0])), t.op1('Exp', [logScale]), `${name}.scaled`), logBias, `${name}.logits`);
  const eye = t.op1('EyeLike', [logits]);
  const labels = t.sub(t.mul(eye, t.constant(2)), t.constant(1), `${name}.labels`);
  const z = t.op1('Unsqueeze', [t.mul(logits, labels, `${name}.signed`), t.ints([-1])]); // [B, B, 1]
  const pair = t.op1('Concat', [z, t.zerosLike(z)], { axis: -1 }, { name: `${name}.pair` });
  const ls = t.op1('Slice', [t.op1('LogSoftmax', [pair], { axis: -1 }, { name: `${name}.logsigmoid` }), t.ints([0]), t.ints([1]), t.ints([-1])]);
  const perImage = t.reduceSum(ls, [1, 2], false, `${name}.sum`);
  return t.op1('Neg', [t.op1('ReduceMean', [perImage], { axes: [0], keepdims: 0 }, { name: `${name}.mean` })], {}, { name });
}

/** 1 where x > threshold, else 0: a non-differentiable mask (comparisons carry no gradient). */
function above(t: Tape, x: Value, threshold: number): Value {
  return t.op1('Cast', [t.op1('Greater', [x, t.constant(threshold)])], { to: t.dtype === 'double' ? 11 : 1 }, { types: [t.dtype] });
}

/** −mean_i log_softmax(logits[i])[i] for [n, m ≥ n] logits: row i's target is column i. */
function rowTargetCe(t: Tape, logits: Value, name: string): Value {
  const ls = t.op1('LogSoftmax', [logits], { axis: 1 }, { name });
  const picked = t.reduceSum(t.mul(ls, t.op1('EyeLike', [logits])), [1], false, `${name}.target`);
  return t.op1('Neg', [t.op1('ReduceMean', [picked], { axes: [0], keepdims: 0 }, { name: `${name}.mean` })]);
}

/** Textual intra-modal contrastive (hard_category_contrastive_loss + PNTextLoss) over normalized box texts [K, D]. */
function ticLoss(t: Tape, T: Value): Value {
  const sim = t.matmul(T, t.transpose(T, [1, 0]), 'tic.cosines');
  const offDiag = t.sub(t.constant(1), t.op1('EyeLike', [sim]), 'tic.off_diagonal');
  const masked = t.mul(sim, offDiag, 'tic.no_diagonal');
  const keep = t.sub(t.constant(1), above(t, masked, 0.95), 'tic.keep');
  const s = t.mul(masked, keep, 'tic.similarity');
  const k = t.input(V2_TRAIN_IO.ticK, [1], { type: 'int64' });
  const [values, indices] = t.op(
    'TopK',
    [s, k],
    { axis: 1, largest: 1, sorted: 1 },
    {
      nOut: 2,
      name: 'tic.topk',
      dims: [
        ['K', 'k'],
        ['K', 'k'],
      ],
      types: [t.dtype, 'int64'],
    },
  );
  const ones = t.add(t.zerosLike(values), t.constant(1), 'tic.ones');
  const chosen = t.op1('ScatterElements', [t.zerosLike(s), indices, ones], { axis: 1 }, { name: 'tic.chosen', dims: [s.dims], types: [t.dtype] });
  // ScatterElements has no gradient rule: the comparison makes the mask a constant of the backward pass
  const sel = above(t, chosen, 0.5);
  const perRow = t.op1(
    'Log',
    [t.reduceSum(t.mul(t.op1('Exp', [s], {}, { name: 'tic.exp' }), sel, 'tic.selected'), [1], false, 'tic.sum')],
    {},
    { name: 'tic.log' },
  );
  return t.op1('ReduceMean', [perRow], { axes: [0], keepdims: 0 }, { name: 'tic' });
}

/** hard_contrastive_total_loss: regions R [V, D] and texts [11V, D] (normalized); θ a graph input. */
function hardLoss(t: Tape, R: Value, texts: Value, logScale: Value, D: number): { con: Value; pair: Value; cmr: Value; pairLogits: Value } {
  const s = t.op1('Exp', [logScale], {}, { name: 'hard.scale' });
  const grouped = t.reshape(texts, [-1, V2_HARD_GROUP, D], 'hard.grouped'); // [V, 11, D]
  const gt = t.reshape(t.op1('Slice', [grouped, t.ints([0]), t.ints([1]), t.ints([1])]), [-1, D], 'hard.positives'); // [V, D]
  const da = t.reshape(t.op1('Slice', [grouped, t.ints([1]), t.ints([V2_HARD_GROUP]), t.ints([1])]), [-1, D], 'hard.negatives'); // [10V, D]
  const all = t.op1('Concat', [gt, da], { axis: 0 }, { name: 'hard.all_texts' });
  const perImage = t.mul(t.matmul(R, t.transpose(all, [1, 0])), s, 'hard.logits_per_image'); // [V, 11V]
  const perText = t.mul(t.matmul(gt, t.transpose(R, [1, 0])), s, 'hard.logits_per_text'); // [V, V]
  const con = t.mul(t.add(rowTargetCe(t, perImage, 'hard.con_image'), rowTargetCe(t, perText, 'hard.con_text')), t.constant(0.5), 'hard_con');
  const pairLogits = t.mul(t.reduceSum(t.mul(grouped, t.op1('Unsqueeze', [R, t.ints([1])]), 'hard.pair_products'), [2], false), s, 'hard.pair_logits'); // [V, 11]
  const ls = t.op1('LogSoftmax', [pairLogits], { axis: 1 }, { name: 'hard.pair_logsoftmax' });
  const pair = t.op1(
    'Neg',
    [t.op1('ReduceMean', [t.op1('Slice', [ls, t.ints([0]), t.ints([1]), t.ints([1])])], { axes: [0, 1], keepdims: 0 })],
    {},
    { name: 'hard_pair' },
  );
  const pos = t.op1('Slice', [pairLogits, t.ints([0]), t.ints([1]), t.ints([1])], {}, { name: 'hard.cmr_positive' }); // [V, 1]
  const neg = t.op1('Slice', [pairLogits, t.ints([1]), t.ints([V2_HARD_GROUP]), t.ints([1])], {}, { name: 'hard.cmr_negatives' }); // [V, 10]
  const arg = t.sub(t.add(neg, t.input(V2_TRAIN_IO.threshold, [])), pos, 'hard.cmr_argument');
  const relu = t.mul(arg, above(t, arg, 0), 'hard.cmr_relu');
  const cmr = t.op1('ReduceMean', [relu], { axes: [0, 1], keepdims: 0 }, { name: 'hard_cmr' });
  return { con, pair, cmr, pairLogits };
}

/** Towers → the stage-2 loss and its parts → gradients of every non-frozen parameter. */
export function buildV2TrainGraph(cfg: Fgclip2Config, shapes: ReadonlyMap<string, readonly number[]>, v: V2Variant, o: V2BuildOptions = {}): V2TrainGraph {
  const t = new Tape('fgclip2_train_step', o.dtype ?? 'float');
  const c: BlockCtx = { t, p: new Params(t, shapes, o.frozen ?? new Set()) };
  const D = cfg.text_config.hidden_size;
  const W = V2_LOSS_WEIGHTS;
  const regions = v.boxes || v.hard;
  const vis = visionTower(c, cfg, regions);
  const img = l2normalize(t, vis.image, 'image_norm');
  const L = v.textLength;
  const ids = t.input(V2_TRAIN_IO.texts, ['n', L], { type: 'int64' });
  const pooled = textTower(c, cfg, ids, c.p.get('text_model.embeddings.position_embedding.weight'), L);
  let shortPooled = pooled;
  let boxPooled: Value | undefined;
  let hardPooled: Value | undefined;
  if (regions) {
    const sizes = t.input(V2_TRAIN_IO.textSplit, [3], { type: 'int64' });
    [shortPooled, boxPooled, hardPooled] = t.op(
      'Split',
      [pooled, sizes],
      { axis: 0 },
      {
        nOut: 3,
        name: 'text_split',
        dims: [
          ['B', D],
          ['K', D],
          ['HT', D],
        ],
      },
    );
  }
  const logitScale = c.p.get('logit_scale');
  const logitBias = c.p.get('logit_bias');
  const sigShort = siglipLoss(t, img, l2normalize(t, linear(c, 'text_model.head', shortPooled), 'short_norm'), logitScale, logitBias, 'sig_short');
  const zero = () => t.constant(0);
  const parts: Record<V2LossPart, Value> = {
    sig_long: zero(),
    sig_short: sigShort,
    region: zero(),
    tic: zero(),
    hard_total: zero(),
    hard_con: zero(),
    hard_pair: zero(),
    hard_cmr: zero(),
  };
  let total = sigShort;
  let hardLogits: Value | undefined;
  if (v.long) {
    const tm = 'text_model.embeddings';
    const keep = cfg.text_config.keep_len;
    const Ll = cfg.text_config.longtext_len;
    const table = t.op1(
      'Concat',
      [
        t.op1('Slice', [c.p.get(`${tm}.position_embedding_ori.weight`), t.ints([0]), t.ints([keep]), t.ints([0])]),
        t.op1('Slice', [c.p.get(`${tm}.position_embedding_res.weight`), t.ints([keep]), t.ints([Ll]), t.ints([0])]),
      ],
      { axis: 0 },
      { name: `${tm}.long_positions` },
    );
    const longIds = t.input(V2_TRAIN_IO.longIds, ['B', Ll], { type: 'int64' });
    const long = l2normalize(t, linear(c, 'longtext_head', textTower(c, cfg, longIds, table, Ll)), 'long_norm');
    parts.sig_long = siglipLoss(t, img, long, logitScale, logitBias, 'sig_long');
    total = t.add(parts.sig_long, sigShort, 'loss_global');
    // the reference adds the stage-2 terms only when long captions are present (fgclip2.py: `if text_long is not None`)
    const flat = regions ? t.reshape(vis.dense as Value, [-1, D], 'dense_rows') : undefined; // [B·N, D]
    if (v.boxes && flat && boxPooled) {
      const R = l2normalize(t, t.matmul(t.input(V2_TRAIN_IO.boxRoi, ['K', 'BN']), flat, 'box_roi_align'), 'box_region_norm');
      const T = l2normalize(t, linear(c, 'boxtext_head', boxPooled), 'box_text_norm');
      parts.region = symmetricInfoNce(t, R, T, c.p.get('logit_scale_finegraind'), 'region');
      parts.tic = ticLoss(t, T);
      total = t.add(total, t.add(t.mul(parts.region, t.constant(W.region)), t.mul(parts.tic, t.constant(W.tic))), 'loss_box_add');
    }
    if (v.hard && flat && hardPooled) {
      const R = l2normalize(t, t.matmul(t.input(V2_TRAIN_IO.hardRoi, ['V', 'BN']), flat, 'hard_roi_align'), 'hard_region_norm');
      const T = l2normalize(t, linear(c, 'boxtext_head', hardPooled), 'hard_text_norm');
      const h = hardLoss(t, R, T, c.p.get('logit_scale_hardneg'), D);
      parts.hard_con = h.con;
      parts.hard_pair = h.pair;
      parts.hard_cmr = h.cmr;
      parts.hard_total = t.add(
        t.add(t.mul(h.con, t.constant(W.hardCon)), t.mul(h.pair, t.constant(W.hardPair))),
        t.mul(h.cmr, t.constant(W.hardCmr)),
        'hard_total',
      );
      total = t.add(total, t.mul(parts.hard_total, t.constant(W.hard)), 'loss_hard_add');
      hardLogits = h.pairLogits;
    }
  }
  t.output(total, V2_TRAIN_IO.loss);
  for (const k of V2_TRAIN_IO.parts) t.output(parts[k], k);
  if (hardLogits) t.output(hardLogits, V2_TRAIN_IO.hardLogits);
  const gradParams = gradOutputs(c, t.backward([[total, t.constant(1)]]));
  return { built: t.build(), params: c.p.declared, gradParams };
}
