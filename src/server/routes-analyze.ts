/**
 * POST /v1/analyze — everything the web page shows for one image from ONE vision pass: zero-shot classification
 * over the labels, a heatmap per label (dense map · text), and the labels ranked per box. The global embedding, the
 * dense map and the region features come from a single `encodeImages` call (dense + boxes); the texts are
 * batched beside it. Scoring is the library's (src/tasks: classify's scoreLabels, heatmap's denseSimilarity,
 * regions' rankRegionLabels), as in /v1/classify, /v1/heatmap and /v1/regions.
 *   image       one image
 *   labels      the captions / candidate labels (a list; multipart also takes "a,b" or repeated parts)
 *   templates   "none" (default) | "imagenet" | ["a photo of a {}.", …]   for the classification only
 *   text_mode   "auto" (default) | "short" | "long" | "box"                 classification and heatmap texts (not given:
 *                                                                           FG-CLIP 2's heatmaps take the box path, as its card)
 *   truncate    boolean (default false)
 *   boxes       [[x1, y1, x2, y2], …] in image pixels (optional)
 *   heatmaps    "png" (default: one PNG data URI per label) | "json" (cosines on the patch grid) | "none"
 */
import { renderHeatmap } from '../heatmap/index.js';
import type { RgbImage } from '../preprocess/index.js';
import { promptEnsembles, scoreLabels, scoringOf } from '../tasks/classify.js';
import { denseSimilarity, denseTextMode } from '../tasks/heatmap.js';
import { rankRegionLabels, regionTextMode } from '../tasks/regions.js';
import { fillTemplate, resolveTemplates } from '../tasks/templates.js';
import { checkModel, encoder, type Handler, imageBytes } from './context.js';
import { badRequest } from './http-error.js';
import { PROMPTS_PER_INPUT, TEXT_MODES, templatesOf, uniqueLabels, usage } from './routes-tasks.js';
import { boxList, checkFields, has, optBool, optEnum, singleImage, stringList } from './validate.js';

const FIELDS = ['model', 'image', 'labels', 'templates', 'text_mode', 'truncate', 'boxes', 'heatmaps'];

export const analyze: Handler = async (body, ctx) => {
  checkFields(body, FIELDS, 'POST /v1/analyze');
  checkModel(body, ctx);
  const image = singleImage(body, 'image');
  const labels = stringList(body, 'labels', ctx.limits.maxInputs, 'the captions or labels', { commas: true });
  uniqueLabels(labels, 'labels');
  const templates = has(body, 'templates') ? templatesOf(body.templates) : resolveTemplates('none');
  const mode = optEnum(body, 'text_mode', TEXT_MODES, 'auto');
  const truncate = optBool(body, 'truncate', false);
  const boxes = has(body, 'boxes') ? boxList(body, 'boxes', ctx.limits.maxInputs) : undefined;
  const heatmaps = optEnum(body, 'heatmaps', ['png', 'json', 'none'] as const, 'png');
  const prompts = labels.flatMap((l) => templates.map((t) => fillTemplate(t, l)));
  if (prompts.length > ctx.limits.maxInputs * PROMPTS_PER_INPUT) {
    throw badRequest(
      'TOO_MANY_INPUTS',
      `labels × templates: too many prompts (${prompts.length}; at most ${ctx.limits.maxInputs * PROMPTS_PER_INPUT})`,
      'labels',
    );
  }
  const [bytes] = await imageBytes([image], () => 'image', ctx);
  // the PNG figures show the image: it is decoded once here (held in the pixel budget) and those pixels are encoded
  const held = heatmaps === 'png' ? await ctx.engine.decodeHeld(bytes, 'image', ctx.signal) : undefined;
  try {
    const enc = encoder(ctx, { texts: 'labels', image: () => (boxes ? 'boxes' : 'image') });
    // heatmap texts: the request's text_mode, else the model's dense path when it has its own (FG-CLIP 2: box)
    const heatMode = has(body, 'text_mode') || denseTextMode(enc) === 'short' ? mode : denseTextMode(enc);
    const sameTexts = templates.length === 1 && prompts.every((p, i) => p === labels[i]) && heatMode === mode;
    const [[img], promptEnc, heatEnc, regionEnc] = await Promise.all([
      // the one vision pass: global embedding, dense map (heatmaps) and region features (boxes)
      enc.encodeImages([held?.rgb ?? bytes], { dense: heatmaps !== 'none', boxes: boxes ? [boxes] : undefined }),
      enc.encodeTexts(prompts, { mode, truncate }),
      heatmaps !== 'none' && !sameTexts ? enc.encodeTexts(labels, { mode: heatMode, truncate }) : undefined,
      boxes ? enc.encodeTexts(labels, { mode: regionTextMode(enc), truncate }) : undefined,
    ]);
    const classification = scoreLabels(enc, img.embedding, labels, promptEnsembles(promptEnc.embeddings, templates.length));
    const heatTexts = heatEnc ?? promptEnc;
    const similarity = heatmaps === 'none' ? [] : denseSimilarity(img.dense ?? [], heatTexts.embeddings);
    const figures = heatmaps === 'png' ? await Promise.all(labels.map((l, i) => png(img.grid, l, similarity[i], held?.rgb as RgbImage))) : undefined;
    return {
      json: {
        object: 'analysis',
        model: ctx.modelName,
        image_size: [img.width, img.height],
        grid: [img.grid[0], img.grid[1]],
        scoring: scoringOf(enc),
        labels: classification,
        heatmaps: heatmaps === 'none' ? [] : labels.map((text, i) => ({ text, ...(figures ? { png: figures[i] } : { similarity: similarity[i] }) })),
        regions:
          boxes && regionEnc
            ? rankRegionLabels(img.regions ?? [], boxes, labels, regionEnc.embeddings).map((r, index) => ({ object: 'region', index, ...r }))
            : [],
        usage: usage(ctx),
      },
    };
  } finally {
    held?.release();
  }
};

async function png(grid: readonly [number, number], text: string, similarity: number[], image: RgbImage): Promise<string> {
  const buf = await renderHeatmap({ gridH: grid[0], gridW: grid[1], panels: [{ text, similarity }], image });
  return `data:image/png;base64,${buf.toString('base64')}`;
}
