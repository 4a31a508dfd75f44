/**
 * The CLIP vision tower (CLIPVisionTransformer + visual_projection) as one ONNX graph with two outputs from a single
 * pass (FG-CLIP v1 defines the dense one; plain CLIP checkpoints get the same dense features):
 *   image_embeds [B, P]      CLS → post_layernorm → visual_projection          (fgclip.py:128-153)
 *   dense_embeds [B, N, P]   hs[-2] → last block without attention → drop CLS → post_layernorm → visual_projection
 *                            (fgclip.py:263-298)
 * Region features are RoIAlign over dense_embeds, done after the graph (postprocess/roi-align.ts).
 * Reference: modeling_clip.py:171-214 (embeddings), 920-980 (CLIPVisionTransformer).
 */
import type { ClipConfig } from '../config/types.js';
import {
  checkBuildMode,
  encoderLayer,
  exposeIntermediate,
  encoderLayerWithoutAttn,
  layerNorm,
  projectionWeight,
  remappedName,
  type BuildMode,
  type Ctx,
  type LayerHandles,
  type LinearDtype,
  type WeightSource,
} from './blocks.js';
import { GraphBuilder, type BuiltModel, type WeightSink } from './onnx-builder.js';

export interface VisionGraphOptions {
  /** input resolution; defaults to vision_config.image_size. Other sizes need `positionEmbedding` for that grid. */
  readonly imageSize?: number;
  /** [(g*g)+1, Dv] position table for `imageSize` (see interpolatePositionEmbedding); default: the checkpoint's */
  readonly positionEmbedding?: Float32Array;
  /**
   * dense_embeds: true (default) computed on every pass; false: no dense output (global only); 'on-request': the
   * dense branch sits in an `If` on the boolean scalar input `with_dense`, so a caller feeding false gets the
   * global embedding alone, at global-only cost, from the same session and the same weights (dense_embeds is
   * then empty, [0, N, P]). The input is required: onnxruntime-node does not pass feeds for an input that has a
   * default initializer (it lists only the other inputs), so a default could never be overridden.
   */
  readonly dense?: boolean | 'on-request';
  /** storage/compute of the encoder's linear layers (default fp32, exact) */
  readonly dtype?: LinearDtype;
  /** where the weights go (default: memory) */
  readonly sink?: WeightSink;
  /** default 'inference' */
  readonly mode?: BuildMode;
  /**
   * also output every block's result, named after its module path: `vision_model.embeddings`,
   * `vision_model.pre_layrnorm`, `vision_model.encoder.layers.{i}` and (dense branch)
   * `vision_model.encoder.layers.{L-1}.without_attn` [B, N+1, D]; `vision_model.post_layernorm` [B, D] (CLS row)
   */
  readonly intermediates?: boolean;
  /**
   * RoIAlign inside the graph (needs `dense: true`): inputs `region_boxes` [K, 4] (x1, y1, x2, y2 in grid cells) and
   * `region_batch_index` [K] (int64, the image of each box), output `region_embeds` [K, P]: RoIAlign 1×1 over the
   * dense map, aligned (half-pixel), adaptive sampling, average, as fgclip.py's torchvision call (what
   * src/postprocess/roi-align.ts computes outside the graph)
   */
  readonly regions?: boolean;
}

export const VISION_INPUT = 'pixel_values';
export const REGION_BOXES = 'region_boxes';
export const REGION_BATCH_INDEX = 'region_batch_index';
export const REGION_EMBEDS = 'region_embeds';
export const IMAGE_EMBEDS = 'image_embeds';
export const DENSE_EMBEDS = 'dense_embeds';
/** bool scalar input of graphs built with `dense: 'on-request'`: false skips the dense branch */
export const WITH_DENSE = 'with_dense';

export function buildClipVisionGraph(graphName: string, config: ClipConfig, w: WeightSource, opts: VisionGraphOptions = {}): BuiltModel {
  const vc = config.vision_config;
  const S = opts.imageSize ?? vc.image_size;
  const p = vc.patch_size;
  const gsz = S / p;
  const N = gsz * gsz;
  const D = vc.hidden_size;
  const P = config.projection_dim;
  const L = vc.num_hidden_layers;
  const eps = vc.layer_norm_eps;
  checkBuildMode(opts.mode, opts.dtype);
  const g = new GraphBuilder(graphName, opts.sink);
  const c: Ctx = { g, w, dtype: opts.dtype, mode: opts.mode };
  const vm = 'vision_model';

  const px = g.input(VISION_INPUT, 'float', ['B', vc.num_channels, S, S]);
  // patch_embedding: Conv2d(stride = kernel = patch, no bias) → [B, D, g, g] → [B, N, D] row-major patches
  const convW = g.weight(`${vm}.embeddings.patch_embedding.weight`, w.get(`${vm}.embeddings.patch_embedding.weight`, [D, vc.num_channels, p, p]), [
    D,
    vc.num_channels,
    p,
    p,
  ]);
  const conv = g.op1('Conv', `${vm}.embeddings.patch_embedding`, [px, convW], { kernel_shape: [p, p], strides: [p, p] }); // [B, D, g, g]
  const flat = g.op1('Reshape', `${vm}.embeddings.flatten`, [conv, g.int64(`${vm}.embeddings.flatten_shape`, [0, D, N])]); // [B, D, N]
  const patches = g.op1('Transpose', `${vm}.embeddings.transpose`, [flat], { perm: [0, 2, 1] }); // [B, N, D]
  // class token expanded to [B, 1, D]
  // train mode keeps the checkpoint's [D] (Expand broadcasts it); inference stores it as [1, 1, D]
  const cls = g.weight(`${vm}.embeddings.class_embedding`, w.get(`${vm}.embeddings.class_embedding`, [D]), opts.mode === 'train' ? [D] : [1, 1, D]);
  const batch = g.op1('Shape', `${vm}.embeddings.batch_dim`, [px], { start: 0, end: 1 }); // [1]
  const clsShape = g.op1('Concat', `${vm}.embeddings.cls_shape`, [batch, g.int64(`${vm}.embeddings.cls_tail`, [1, D])], { axis: 0 });
  const clsB = g.op1('Expand', `${vm}.embeddings.cls_expand`, [cls, clsShape]); // [B, 1, D]
  const tokens = g.op1('Concat', `${vm}.embeddings.concat`, [clsB, patches], { axis: 1 }); // [B, N+1, D]
  const posName = `${vm}.embeddings.position_embedding.weight`;
  const pos = opts.positionEmbedding
    ? g.weight(remappedName(posName, 'interpolated'), opts.positionEmbedding, [N + 1, D])
    : g.weight(posName, w.get(posName, [N + 1, D]), [N + 1, D]);
  let x = g.op1('Add', `${vm}.embeddings.position_add`, [tokens, pos]); // [B, N+1, D]
  const expose = (v: string, path: string, dims: readonly (number | string)[]) => opts.intermediates && exposeIntermediate(g, v, path, dims);
  expose(x, `${vm}.embeddings`, ['B', N + 1, D]);
  x = layerNorm(c, `${vm}.pre_layrnorm`, x, D, eps);
  expose(x, `${vm}.pre_layrnorm`, ['B', N + 1, D]);

  let penultimate = x; // hs[-2]: the input of the last block
  let last: LayerHandles | undefined;
  for (let i = 0; i < L; i++) {
    if (i === L - 1) penultimate = x;
    const layer = encoderLayer(c, `${vm}.encoder.layers.${i}`, x, vc);
    x = layer.out;
    last = layer.handles;
    expose(x, `${vm}.encoder.layers.${i}`, ['B', N + 1, D]);
  }

  // global: CLS row → post_layernorm → visual_projection
  const clsOut = g.op1('Gather', `${vm}.pooler`, [x, g.int64(`${vm}.pooler_index`, [0], [])], { axis: 1 }); // [B, D]
  const pooled = layerNorm(c, `${vm}.post_layernorm`, clsOut, D, eps);
  expose(pooled, `${vm}.post_layernorm`, ['B', D]);
  const projW = projectionWeight(c, 'visual_projection', D, P);
  g.alias(g.op1('MatMul', 'visual_projection', [pooled, projW]), IMAGE_EMBEDS); // [B, P]
  g.output(IMAGE_EMBEDS, 'float', ['B', P]);

  const denseOpt = opts.dense ?? true;
  if (denseOpt !== false && last) {
    const layer = last;
    const denseBranch = (): string => {
      const y = encoderLayerWithoutAttn(c, penultimate, vc, layer); // [B, N+1, D]
      expose(y, `${layer.path}.without_attn`, ['B', N + 1, D]);
      const patchTokens = g.op1('Slice', `${vm}.dense.drop_cls`, [
        y,
        g.int64(`${vm}.dense.starts`, [1]),
        g.int64(`${vm}.dense.ends`, [N + 1]),
        g.int64(`${vm}.dense.axes`, [1]),
      ]); // [B, N, D]
      const dn = g.op1('LayerNormalization', `${vm}.post_layernorm.dense`, [patchTokens, `${vm}.post_layernorm.weight`, `${vm}.post_layernorm.bias`], {
        axis: -1,
        epsilon: { float: eps },
      });
      return g.op1('MatMul', 'visual_projection.dense', [dn, projW]); // [B, N, P]
    };
    if (denseOpt === 'on-request') {
      if (opts.intermediates) throw new Error(`${graphName}: intermediates need dense: true (an intermediate cannot leave an If branch)`);
      const withDense = g.input(WITH_DENSE, 'bool', []);
      const empty = g.raw(`${vm}.dense.none`, 'float', [0, N, P], new Uint8Array(0));
      // the else branch's dense_embeds is [0, N, P]: the batch dimension is not B then
      g.ifElse(
        `${vm}.dense.if`,
        withDense,
        [{ name: DENSE_EMBEDS, type: 'float', dims: ['B_dense', N, P] }],
        () => [denseBranch()],
        () => [empty],
      );
      g.output(DENSE_EMBEDS, 'float', ['B_dense', N, P]);
    } else {
      const dense = denseBranch();
      g.alias(dense, DENSE_EMBEDS);
      g.output(DENSE_EMBEDS, 'float', ['B', N, P]);
      if (opts.regions) {
        const boxes = g.input(REGION_BOXES, 'float', ['K', 4]);
        const index = g.input(REGION_BATCH_INDEX, 'int64', ['K']);
        // [B, N, P] → [B, g, g, P] → [B, P, g, g] (NCHW, rows of the grid as H)
        const grid = g.op1('Reshape', `${vm}.regions.grid`, [dense, g.int64(`${vm}.regions.grid_shape`, [0, gsz, gsz, P])]);
        const nchw = g.op1('Transpose', `${vm}.regions.nchw`, [grid], { perm: [0, 3, 1, 2] });
        const pooled = g.op1('RoiAlign', `${vm}.regions.roi_align`, [nchw, boxes, index], {
          mode: 'avg',
          output_height: 1,
          output_width: 1,
          sampling_ratio: 0,
          spatial_scale: { float: 1 },
          coordinate_transformation_mode: 'half_pixel',
        }); // [K, P, 1, 1]
        g.alias(g.op1('Reshape', `${vm}.regions.flatten`, [pooled, g.int64(`${vm}.regions.flat_shape`, [-1, P])]), REGION_EMBEDS);
        g.output(REGION_EMBEDS, 'float', ['K', P]);
      }
    }
  }
  if (opts.regions && denseOpt !== true) throw new Error(`${graphName}: regions need dense: true`);
  return g.build();
}
