/**
 * Task endpoints: batched tower outputs scored by the same functions as the library's tasks (src/tasks):
 *   POST /v1/classify  zero-shot classification (model card §8.1 / ImageNet protocol §6.5: template ensemble,
 *                      softmax of exp(logit_scale)·cos), as src/tasks/classify.ts
 *   POST /v1/heatmap   dense patch·text cosines (model card §8.3), as src/tasks/heatmap.ts; JSON or a PNG figure
 *   POST /v1/regions   per-box RoI features, or labels ranked per box as FG-OVD scores them (src/tasks/regions.ts)
 *   POST /v1/rank      one text or image query against text or image candidates, by cosine
 * Field lists are in each handler's FIELDS; unknown fields are rejected.
 */
import { renderHeatmap } from '../heatmap/index.js';
import { boxesToGrid, regionFeatures } from '../model/boxes.js';
import { l2normalize } from '../postprocess/similarity.js';
import { classifyEmbedding, promptEnsembles } from '../tasks/classify.js';
import { denseSimilarity } from '../tasks/heatmap.js';
import { rankEmbeddings } from '../tasks/rank.js';
import { rankRegionLabels } from '../tasks/regions.js';
import { fillTemplate, resolveTemplates } from '../tasks/templates.js';
import { base64Floats, checkModel, embedImages, floats, type Ctx, type Handler } from './context.js';
import { badRequest } from './http-error.js';
import type { RequestObject } from './body.js';
import { boxList, checkFields, describe, has, imageList, imageOf, optBool, optEnum, optInt, singleImage, stringList, tooMany } from './validate.js';

const TEXT_MODES = ['auto', 'short', 'long'] as const;

function uniqueLabels(labels: readonly string[], field: string): void {
  const seen = new Map<string, number>();
  labels.forEach((l, i) => {
    const j = seen.get(l);
    if (j !== undefined) throw badRequest('INPUT_INVALID', `${field}[${i}]: ${JSON.stringify(l)} repeats ${field}[${j}] (labels must be unique: duplicates split the probability)`, `${field}[${i}]`);
    seen.set(l, i);
  });
}

function usage(tokens: readonly number[]) {
  const n = tokens.reduce((a, b) => a + b, 0);
  return { prompt_tokens: n, total_tokens: n };
}

/** Texts → normalized embeddings through the batcher; counts items for the log. */
async function embedTexts(ctx: Ctx, texts: readonly string[], mode: (typeof TEXT_MODES)[number], truncate: boolean, field: string) {
  const r = await ctx.engine.texts(texts, mode, truncate, field, ctx);
  ctx.items += texts.length;
  return r;
}

/** prompts (labels × templates) allowed per classify request, per unit of --max-inputs */
const PROMPTS_PER_INPUT = 16;

const CLASSIFY_FIELDS = ['model', 'images', 'labels', 'templates', 'text_mode', 'truncate', 'top_k'];

export const classify: Handler = async (body, ctx) => {
  checkFields(body, CLASSIFY_FIELDS, 'POST /v1/classify');
  checkModel(body, ctx);
  const images = imageList(body, 'images', ctx.limits.maxImages);
  const labels = stringList(body, 'labels', ctx.limits.maxInputs, 'the candidate labels');
  uniqueLabels(labels, 'labels');
  const templates = has(body, 'templates') ? templatesOf(body.templates) : resolveTemplates('none');
  const mode = optEnum(body, 'text_mode', TEXT_MODES, 'short');
  const truncate = optBool(body, 'truncate', false);
  const topK = optInt(body, 'top_k', 1, labels.length);
  const prompts = labels.flatMap((l) => templates.map((t) => fillTemplate(t, l)));
  const maxPrompts = ctx.limits.maxInputs * PROMPTS_PER_INPUT;
  if (prompts.length > maxPrompts) {
    throw badRequest('TOO_MANY_INPUTS', `labels × templates: too many prompts (${labels.length} labels × ${templates.length} templates = ${prompts.length}; at most ${maxPrompts}). Use fewer labels per request or the library's cached classifyImages.`, 'labels');
  }
  const [text, img] = await Promise.all([embedTexts(ctx, prompts, mode, truncate, 'labels'), embedImages(images, (i) => `images[${i}]`, ctx)]);
  const W = promptEnsembles(text.embeddings, templates.length);
  const data = img.embeddings.map((e, index) => ({ object: 'classification', index, labels: classifyEmbedding(e, labels, W, ctx.model.logitScale, topK) }));
  return { json: { object: 'list', data, model: ctx.modelName, usage: usage(text.tokens) } };
};

function templatesOf(v: unknown) {
  if (v === 'none' || v === 'imagenet') return resolveTemplates(v);
  if (Array.isArray(v) && v.every((t) => typeof t === 'string')) {
    if (v.length > 100) throw tooMany('templates', v.length, 100);
    return resolveTemplates(v as string[]);
  }
  throw badRequest('INPUT_INVALID', `templates: expected "none", "imagenet" or a list of strings with one {} each (got ${describe(v)})`, 'templates');
}

const HEATMAP_FIELDS = ['model', 'image', 'texts', 'format', 'text_mode', 'truncate'];

export const heatmap: Handler = async (body, ctx) => {
  checkFields(body, HEATMAP_FIELDS, 'POST /v1/heatmap');
  checkModel(body, ctx);
  const image = singleImage(body, 'image');
  const texts = stringList(body, 'texts', ctx.limits.maxInputs, 'the texts to map');
  const format = optEnum(body, 'format', ['json', 'png'] as const, 'json');
  const mode = optEnum(body, 'text_mode', TEXT_MODES, 'short');
  const truncate = optBool(body, 'truncate', false);
  const [text, img] = await Promise.all([embedTexts(ctx, texts, mode, truncate, 'texts'), embedImages([image], () => 'image', ctx)]);
  const g = ctx.model.gridSize;
  const similarity = denseSimilarity(img.dense[0].map(l2normalize), text.embeddings); // [texts][g*g], row-major
  if (format === 'png') {
    const rgb = img.loaded[0].rgb;
    const png = await renderHeatmap({ gridH: g, gridW: g, panels: texts.map((t, i) => ({ text: t, similarity: similarity[i] })), image: rgb });
    return { body: png, contentType: 'image/png' };
  }
  const { width, height } = img.loaded[0].rgb;
  return { json: { object: 'heatmap', model: ctx.modelName, grid: [g, g], image_size: [width, height], texts, similarity, usage: usage(text.tokens) } };
};

const REGIONS_FIELDS = ['model', 'image', 'boxes', 'labels', 'truncate', 'encoding_format'];

export const regions: Handler = async (body, ctx) => {
  checkFields(body, REGIONS_FIELDS, 'POST /v1/regions');
  checkModel(body, ctx);
  const image = singleImage(body, 'image');
  const boxes = boxList(body, 'boxes', ctx.limits.maxInputs);
  const labels = has(body, 'labels') ? stringList(body, 'labels', ctx.limits.maxInputs, 'the candidate labels') : undefined;
  if (labels) uniqueLabels(labels, 'labels');
  if (!labels && has(body, 'truncate')) throw badRequest('INPUT_INVALID', 'truncate applies to labels, and no labels were given', 'truncate');
  if (labels && has(body, 'encoding_format')) throw badRequest('INPUT_INVALID', 'encoding_format applies to region features (no labels); with labels the answer is ranked labels', 'encoding_format');
  const format = optEnum(body, 'encoding_format', ['float', 'base64'] as const, 'float');
  const truncate = optBool(body, 'truncate', false);
  // FG-OVD scores regions against short-path captions (fgovd_eval.py: max_length 77)
  const [text, img] = await Promise.all([labels ? embedTexts(ctx, labels, 'short', truncate, 'labels') : undefined, embedImages([image], () => 'image', ctx)]);
  const { width, height } = img.loaded[0].rgb;
  const g = ctx.model.gridSize;
  const features = regionFeatures(img.dense[0], [g, g], boxesToGrid(boxes, width, height, g, 'boxes')).map(l2normalize);
  if (!text || !labels) {
    const enc = format === 'base64' ? base64Floats : floats;
    return { json: { object: 'list', model: ctx.modelName, image_size: [width, height], data: features.map((f, index) => ({ object: 'region', index, box: boxes[index], embedding: enc(f) })) } };
  }
  const data = rankRegionLabels(features, boxes, labels, text.embeddings).map((r, index) => ({ object: 'region', index, ...r }));
  return { json: { object: 'list', model: ctx.modelName, image_size: [width, height], data, usage: usage(text.tokens) } };
};

const RANK_FIELDS = ['model', 'query', 'query_modality', 'candidates', 'candidate_modality', 'text_mode', 'truncate', 'top_k'];

export const rank: Handler = async (body, ctx) => {
  checkFields(body, RANK_FIELDS, 'POST /v1/rank');
  checkModel(body, ctx);
  const qm = optEnum(body, 'query_modality', ['text', 'image'] as const, 'text');
  const cm = optEnum(body, 'candidate_modality', ['text', 'image'] as const, 'text');
  const mode = optEnum(body, 'text_mode', TEXT_MODES, 'auto');
  const truncate = optBool(body, 'truncate', false);
  const candTexts = cm === 'text' ? stringList(body, 'candidates', ctx.limits.maxInputs, 'the candidate texts') : undefined;
  const candImages = cm === 'image' ? imageList(body, 'candidates', ctx.limits.maxImages) : undefined;
  const count = candTexts?.length ?? candImages?.length ?? 0;
  const topK = optInt(body, 'top_k', 1, count);
  const query = qm === 'text' ? stringList(body, 'query', 1, 'one query text') : [imageOf(queryValue(body), 'query')];
  const tokens: number[] = [];
  const embedSide = async (texts: string[] | undefined, imgs: ReturnType<typeof imageList> | undefined, field: string) => {
    if (texts) {
      const r = await embedTexts(ctx, texts, mode, truncate, field);
      tokens.push(...r.tokens);
      return r.embeddings;
    }
    return (await embedImages(imgs ?? [], (i) => (field === 'query' ? 'query' : `${field}[${i}]`), ctx)).embeddings;
  };
  const [[q], cands] = await Promise.all([
    qm === 'text' ? embedSide(query as string[], undefined, 'query') : embedSide(undefined, query, 'query'),
    embedSide(candTexts, candImages, 'candidates'),
  ]);
  // cross-modal: the model card's probabilities over the candidates (softmax of exp(logit_scale)·cos)
  const data = rankEmbeddings(q, cands, { top: topK ?? count, scale: qm !== cm ? ctx.model.logitScale : undefined });
  return { json: { object: 'list', model: ctx.modelName, data, usage: usage(tokens) } };
};

function queryValue(body: RequestObject): unknown {
  const v = body.query;
  if (v === undefined || v === null) throw badRequest('INPUT_INVALID', 'query is required (one text, or one image with query_modality "image")', 'query');
  if (Array.isArray(v)) throw badRequest('INPUT_INVALID', `query: expected exactly one image (got ${describe(v)})`, 'query');
  return v;
}
