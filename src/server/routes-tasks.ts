/**
 * Task endpoints: batched tower outputs scored by the same functions as the library's tasks (src/tasks):
 *   POST /v1/classify  zero-shot classification (model card §8.1 / ImageNet protocol §6.5: template ensemble,
 *                      softmax of exp(logit_scale)·cos), as src/tasks/classify.ts
 *   POST /v1/heatmap   dense patch·text cosines (model card §8.3), as src/tasks/heatmap.ts; JSON or a PNG figure
 *   POST /v1/regions   per-box RoI features, or labels ranked per box as FG-OVD scores them (src/tasks/regions.ts)
 *   POST /v1/rank      one text or image query against text or image candidates, by cosine
 * Field lists are in each handler's FIELDS; unknown fields are rejected.
 */
import { randomUUID } from 'node:crypto';
import { renderHeatmap } from '../heatmap/index.js';
import { promptEnsembles, scoreLabels, scoringOf } from '../tasks/classify.js';
import { denseTextMode, heatmap as heatmapTask } from '../tasks/heatmap.js';
import { crossProbabilities, rankEmbeddings } from '../tasks/rank.js';
import { rankRegionLabels, regionTextMode } from '../tasks/regions.js';
import { fillTemplate, resolveTemplates } from '../tasks/templates.js';
import type { RequestObject } from './body.js';
import { base64Floats, checkModel, type Ctx, encoder, floats, type Handler, imageBytes } from './context.js';
import { badRequest } from './http-error.js';
import { boxList, checkFields, describe, has, imageList, imageOf, optBool, optEnum, optInt, optString, singleImage, stringList, tooMany } from './validate.js';

/** 'box': the region-text head (FG-CLIP 2); a model without one answers 400 naming the field */
export const TEXT_MODES = ['auto', 'short', 'long', 'box'] as const;

export function uniqueLabels(labels: readonly string[], field: string): void {
  const seen = new Map<string, number>();
  labels.forEach((l, i) => {
    const j = seen.get(l);
    if (j !== undefined)
      throw badRequest(
        'INPUT_INVALID',
        `${field}[${i}]: ${JSON.stringify(l)} repeats ${field}[${j}] (labels must be unique: duplicates split the probability)`,
        `${field}[${i}]`,
      );
    seen.set(l, i);
  });
}

/** OpenAI's `usage`: the tokens this request fed to the text tower. */
export function usage(ctx: Ctx) {
  return { prompt_tokens: ctx.usage.tokenCount, total_tokens: ctx.usage.tokenCount };
}

/** prompts (labels × templates) allowed per classify request, per unit of --max-inputs */
export const PROMPTS_PER_INPUT = 16;

const CLASSIFY_FIELDS = ['model', 'images', 'labels', 'templates', 'text_mode', 'truncate', 'top_k'];

export const classify: Handler = async (body, ctx) => {
  checkFields(body, CLASSIFY_FIELDS, 'POST /v1/classify');
  checkModel(body, ctx);
  const images = imageList(body, 'images', ctx.limits.maxImages);
  const labels = stringList(body, 'labels', ctx.limits.maxInputs, 'the candidate labels', { commas: true });
  uniqueLabels(labels, 'labels');
  const templates = has(body, 'templates') ? templatesOf(body.templates) : resolveTemplates('none');
  const mode = optEnum(body, 'text_mode', TEXT_MODES, 'short');
  const truncate = optBool(body, 'truncate', false);
  const topK = optInt(body, 'top_k', 1, labels.length);
  const prompts = labels.flatMap((l) => templates.map((t) => fillTemplate(t, l)));
  const maxPrompts = ctx.limits.maxInputs * PROMPTS_PER_INPUT;
  if (prompts.length > maxPrompts) {
    throw badRequest(
      'TOO_MANY_INPUTS',
      `labels × templates: too many prompts (${labels.length} labels × ${templates.length} templates = ${prompts.length}; at most ${maxPrompts}). Use fewer labels per request or the library's cached classifyImages.`,
      'labels',
    );
  }
  const bytes = await imageBytes(images, (i) => `images[${i}]`, ctx);
  const enc = encoder(ctx, { texts: 'labels', image: (i) => `images[${i}]` });
  const [text, img] = await Promise.all([enc.encodeTexts(prompts, { mode, truncate }), enc.encodeImages(bytes)]);
  const W = promptEnsembles(text.embeddings, templates.length);
  const data = img.map((e, index) => ({ object: 'classification', index, labels: scoreLabels(enc, e.embedding, labels, W, { top: topK }) }));
  return { json: { object: 'list', data, model: ctx.modelName, scoring: scoringOf(enc), usage: usage(ctx) } };
};

export function templatesOf(v: unknown) {
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
  const truncate = optBool(body, 'truncate', false);
  const [bytes] = await imageBytes([image], () => 'image', ctx);
  const enc = encoder(ctx, { texts: 'texts', image: () => 'image' });
  // default: the dense texts' path of the model (short; FG-CLIP 2: box, as its model card's dense example)
  const mode = optEnum(body, 'text_mode', TEXT_MODES, denseTextMode(enc));
  if (format === 'png') {
    // the figure shows the image: decoded once here (held in the pixel budget), the same pixels go to the model
    const { rgb, release } = await ctx.engine.decodeHeld(bytes, 'image', ctx.signal);
    try {
      const h = await heatmapTask(enc, rgb, texts, { mode, truncate });
      const png = await renderHeatmap({
        gridH: h.grid[0],
        gridW: h.grid[1],
        panels: texts.map((t, i) => ({ text: t, similarity: h.similarity[i] })),
        image: rgb,
      });
      return { body: png, contentType: 'image/png' };
    } finally {
      release();
    }
  }
  const h = await heatmapTask(enc, bytes, texts, { mode, truncate });
  return {
    json: { object: 'heatmap', model: ctx.modelName, grid: h.grid, image_size: [h.width, h.height], texts, similarity: h.similarity, usage: usage(ctx) },
  };
};

const REGIONS_FIELDS = ['model', 'image', 'boxes', 'labels', 'truncate', 'encoding_format'];

export const regions: Handler = async (body, ctx) => {
  checkFields(body, REGIONS_FIELDS, 'POST /v1/regions');
  checkModel(body, ctx);
  const image = singleImage(body, 'image');
  const boxes = boxList(body, 'boxes', ctx.limits.maxInputs);
  const labels = has(body, 'labels') ? stringList(body, 'labels', ctx.limits.maxInputs, 'the candidate labels', { commas: true }) : undefined;
  if (labels) uniqueLabels(labels, 'labels');
  if (!labels && has(body, 'truncate')) throw badRequest('INPUT_INVALID', 'truncate applies to labels, and no labels were given', 'truncate');
  if (labels && has(body, 'encoding_format'))
    throw badRequest('INPUT_INVALID', 'encoding_format applies to region features (no labels); with labels the answer is ranked labels', 'encoding_format');
  const format = optEnum(body, 'encoding_format', ['float', 'base64'] as const, 'float');
  const truncate = optBool(body, 'truncate', false);
  const [bytes] = await imageBytes([image], () => 'image', ctx);
  const enc = encoder(ctx, { texts: 'labels', image: () => 'boxes' });
  // region labels take the box head when the model has one, else the short path (FG-OVD: max_length 77)
  const [[img], text] = await Promise.all([
    enc.encodeImages([bytes], { boxes: [boxes] }),
    labels ? enc.encodeTexts(labels, { mode: regionTextMode(enc), truncate }) : undefined,
  ]);
  const features = img.regions ?? [];
  if (!text || !labels) {
    const out = format === 'base64' ? base64Floats : floats;
    return {
      json: {
        object: 'list',
        model: ctx.modelName,
        image_size: [img.width, img.height],
        data: features.map((f, index) => ({ object: 'region', index, box: boxes[index], embedding: out(f) })),
      },
    };
  }
  const data = rankRegionLabels(features, boxes, labels, text.embeddings).map((r, index) => ({ object: 'region', index, ...r }));
  return { json: { object: 'list', model: ctx.modelName, image_size: [img.width, img.height], data, usage: usage(ctx) } };
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
  const qBytes = qm === 'image' ? (await imageBytes(query as ReturnType<typeof imageList>, () => 'query', ctx))[0] : undefined;
  const cBytes = candImages ? await imageBytes(candImages, (i) => `candidates[${i}]`, ctx) : undefined;
  // one encoder per side, so errors name the right field; both sides requested together (they batch with others)
  const qEnc = encoder(ctx, { texts: 'query', image: () => 'query' });
  const cEnc = encoder(ctx, { texts: 'candidates', image: (i) => `candidates[${i}]` });
  const [q, cands] = await Promise.all([
    qBytes ? qEnc.encodeImages([qBytes]).then((r) => r[0].embedding) : qEnc.encodeTexts(query as string[], { mode, truncate }).then((r) => r.embeddings[0]),
    cBytes ? cEnc.encodeImages(cBytes).then((r) => r.map((e) => e.embedding)) : cEnc.encodeTexts(candTexts ?? [], { mode, truncate }).then((r) => r.embeddings),
  ]);
  // cross-modal: the model's probabilities (softmax of exp(logit_scale)·cos over the candidates; FG-CLIP 2: sigmoid per pair)
  const cross = qm !== cm ? crossProbabilities(ctx.engine, q, cands) : undefined;
  const data = rankEmbeddings(q, cands, { top: topK ?? count, ...cross });
  return { json: { object: 'list', model: ctx.modelName, ...(cross ? { scoring: cross.scoring } : {}), data, usage: usage(ctx) } };
};

function queryValue(body: RequestObject): unknown {
  const v = body.query;
  if (v === undefined || v === null) throw badRequest('INPUT_INVALID', 'query is required (one text, or one image with query_modality "image")', 'query');
  if (Array.isArray(v)) throw badRequest('INPUT_INVALID', `query: expected exactly one image (got ${describe(v)})`, 'query');
  return v;
}

const RERANK_FIELDS = ['model', 'query', 'documents', 'top_n', 'return_documents', 'texts', 'return_text', 'raw_scores', 'truncate'];

/** A rerank document: a string, or Cohere's `{text}` object. */
function documentsOf(body: RequestObject, max: number): string[] {
  const v = body.documents;
  if (!Array.isArray(v)) throw badRequest('INPUT_INVALID', `documents: expected a list of strings or {"text": …} objects (got ${describe(v)})`, 'documents');
  const texts = v.map((d, i) => {
    const t = typeof d === 'object' && d !== null && !Array.isArray(d) && typeof (d as { text?: unknown }).text === 'string' ? (d as { text: string }).text : d;
    if (typeof t !== 'string' || t.trim() === '')
      throw badRequest('INPUT_INVALID', `documents[${i}]: expected a non-empty string or {"text": "…"} (got ${describe(d)})`, `documents[${i}]`);
    return t;
  });
  if (texts.length === 0) throw badRequest('INPUT_INVALID', 'documents: the list is empty', 'documents');
  if (texts.length > max) throw tooMany('documents', texts.length, max);
  return texts;
}

/**
 * POST /rerank (and /v1/rerank): the rerank shape TEI, infinity and Cohere clients send. `{query, documents,
 * top_n?, return_documents?}` (Cohere / infinity) → `{object: "rerank", results: [{index, relevance_score,
 * document?}]}`, best first; `{query, texts, return_text?, raw_scores?, truncate?}` (TEI) → `[{index, score, text?}]`.
 * FG-CLIP is a bi-encoder: the score is the cosine of the query's and the document's text embeddings (text mode
 * auto: long captions take the long path). Documents are truncated to fit by default (as Cohere); TEI's `truncate`
 * defaults to false as in TEI (an over-long text is a 400 naming it).
 */
export const rerank: Handler = async (body, ctx) => {
  checkFields(body, RERANK_FIELDS, 'POST /rerank');
  checkModel(body, ctx);
  const tei = has(body, 'texts');
  if (tei === has(body, 'documents'))
    throw badRequest('INPUT_INVALID', 'give the candidates as "documents" (Cohere/infinity) or "texts" (TEI), exactly one of them', 'documents');
  const query = optString(body, 'query');
  if (query === undefined || query.trim() === '') throw badRequest('INPUT_INVALID', 'query is required (the text to rank the documents against)', 'query');
  const docs = tei ? stringList(body, 'texts', ctx.limits.maxInputs, 'the texts to rank') : documentsOf(body, ctx.limits.maxInputs);
  for (const f of tei ? ['top_n', 'return_documents'] : ['return_text', 'raw_scores']) {
    if (has(body, f)) throw badRequest('INPUT_INVALID', `${f} belongs to the ${tei ? 'Cohere/infinity "documents"' : 'TEI "texts"'} form of this request`, f);
  }
  const topN = optInt(body, 'top_n', 1, docs.length) ?? docs.length;
  const returnDocs = optBool(body, tei ? 'return_text' : 'return_documents', false);
  optBool(body, 'raw_scores', false); // TEI: cosines are the raw scores (no activation is applied)
  const truncate = optBool(body, 'truncate', !tei);
  const field = tei ? 'texts' : 'documents';
  const [q, d] = await Promise.all([
    encoder(ctx, { texts: 'query' }).encodeTexts([query], { mode: 'auto', truncate }),
    encoder(ctx, { texts: field }).encodeTexts(docs, { mode: 'auto', truncate }),
  ]);
  const hits = rankEmbeddings(q.embeddings[0], d.embeddings, { top: topN });
  if (tei) return { json: hits.map((h) => ({ index: h.index, score: h.score, ...(returnDocs ? { text: docs[h.index] } : {}) })) };
  return {
    json: {
      object: 'rerank',
      id: randomUUID(),
      model: ctx.modelName,
      created: Math.floor(Date.now() / 1000),
      results: hits.map((h) => ({ index: h.index, relevance_score: h.score, ...(returnDocs ? { document: { text: docs[h.index] } } : {}) })),
      usage: usage(ctx),
      meta: { billed_units: { input_tokens: ctx.usage.tokenCount } },
    },
  };
};
