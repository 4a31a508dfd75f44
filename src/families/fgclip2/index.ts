/**
 * FG-CLIP 2 (360 CVGroup, `Fgclip2Model`): SigLIP 2 NaFlex vision tower with a MAP head and a dense head, a
 * bidirectional Gemma-vocabulary text tower pooled at the last position with three heads (short / box / long), and
 * sigmoid scoring. The family adapter gives the generic handle what it runs: NaFlex images go through
 * `encodeDecoded` (the handle's square [3, S, S] path does not apply), texts through `runText` with the
 * short/box/long walks, probabilities through `scores` (sigmoid, not softmax).
 */
import type { FamilyLoadContext, FamilyModel, ModelFamily, TextMode } from '../types.js';
import { FGCLIP2_ARCHITECTURES, FGCLIP2_MODEL_TYPES } from './config.js';
import { Fgclip2Model } from './model.js';
import { FgClipError } from '../../errors.js';
import { validatePixelBox } from '../../model/boxes.js';

/** The tokenizer's attention mask recovered from ids: 1 up to the last non-pad token (right padding). */
function maskFromIds(ids: readonly number[], padId: number): number[] {
  let last = ids.length - 1;
  while (last >= 0 && ids[last] === padId) last--;
  return ids.map((_, i) => (i <= last ? 1 : 0));
}

async function loadFgclip2(ctx: FamilyLoadContext): Promise<FamilyModel> {
  if (ctx.options.imageSize !== undefined) {
    throw new FgClipError('INPUT_INVALID', `${ctx.dir}: imageSize does not apply to FG-CLIP 2 (NaFlex picks a resolution per image from its patch budget)`);
  }
  const m = await Fgclip2Model.load(ctx, ctx.options);
  const tok = m.tokenizer;
  const specials = tok.template.filter((p) => p.kind === 'special').length;
  const p = m.config.vision_config.patch_size;
  const grid = m.config.grid;
  const pc = m.preprocessConfig;
  const tc = m.config.text_config;
  return {
    config: m.config,
    // the handle's square-image fields; this family's images go through encodeDecoded instead
    preprocessConfig: {
      shortest_edge: grid * p,
      crop_height: grid * p,
      crop_width: grid * p,
      do_resize: true,
      do_center_crop: false,
      do_rescale: pc.do_rescale,
      rescale_factor: pc.rescale_factor,
      do_normalize: pc.do_normalize,
      image_mean: pc.image_mean,
      image_std: pc.image_std,
      resample: pc.resample,
    },
    tokenizer: {
      // the model card, eval and training code lowercase texts before the tokenizer (README_en.md:171, 229)
      countTokens: (t) => tok.tokenIds(t.toLowerCase()).length + specials,
      encode: (t, o) => ({ ids: tok.encode(t.toLowerCase(), { maxLength: o.maxLength }).ids }),
    },
    embeddingDim: m.embeddingDim,
    imageSize: grid * p,
    grid: [grid, grid],
    textLengths: { short: tc.max_position_embeddings, long: tc.longtext_len, box: tc.max_position_embeddings },
    logitScaleLog: m.logitScale,
    unknownTensors: m.unknownTensors,
    fromGraphCache: m.fromGraphCache,
    runText: (ids, mode: TextMode) => m.runIds(ids, mode, tok.returnsAttentionMask ? ids.map((r) => maskFromIds(r, tok.padId)) : undefined),
    runVision: () => {
      throw new FgClipError('INPUT_INVALID', 'FG-CLIP 2 takes NaFlex patches at a per-image resolution, not square [3, S, S] pixel values; use encodeImages');
    },
    encodeDecoded: async (images, opts) => {
      const res = await m.encodePreprocessed(
        images.map((img) => m.preprocess(img, { maxNumPatches: opts.maxNumPatches })),
        opts.dense || (opts.boxes?.some((b) => b.length > 0) ?? false),
      );
      return res.map((r, i) => {
        const boxes = opts.boxes?.[i] ?? [];
        boxes.forEach((b) => validatePixelBox(b, r.imageSizeHw[1], r.imageSizeHw[0], `image ${i}`));
        const D = m.embeddingDim;
        const dense = r.dense ? Array.from({ length: r.grid[0] * r.grid[1] }, (_, k) => (r.dense as Float32Array).slice(k * D, (k + 1) * D)) : [];
        return { image: r.embedding, dense, grid: r.grid, regions: boxes.length ? m.regionFeatures(r, boxes) : [] };
      });
    },
    scores: (cos) => cos.map((c) => 1 / (1 + Math.exp(-(Math.exp(m.logitScale) * c + m.logitBias)))),
    scoreKind: 'sigmoid',
    logitBias: m.logitBias,
    dispose: () => void m.dispose(),
  };
}

export const fgclip2Family: ModelFamily = {
  id: 'fgclip2',
  description: 'FG-CLIP 2',
  architectures: FGCLIP2_ARCHITECTURES,
  modelTypes: FGCLIP2_MODEL_TYPES,
  load: loadFgclip2,
  loadTokenizer: async (folder) => {
    const { SentencePieceBpeTokenizer } = await import('../../tokenizer/sp-bpe-tokenizer.js');
    return SentencePieceBpeTokenizer.fromFolder(folder);
  },
};
