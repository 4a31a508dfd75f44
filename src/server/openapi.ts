/**
 * The OpenAPI 3.1 document served at GET /openapi.json. It lists exactly the routes of server.ts's API_ROUTES (the
 * web page's static files aside), and every request example in it is sent to a real server by openapi.test.ts, so
 * the document and the implementation cannot drift apart. Field lists match each handler's allowed fields.
 */

/** A 16×12 PNG, small enough for examples (real requests send photos the same way). */
export const EXAMPLE_IMAGE =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAMCAIAAADkharWAAAACXBIWXMAAAPoAAAD6AG1e1JrAAABUklEQVQokQXBIQHAIBBA0YswQYBJ5AIgiHAREASYRP4ACCJcBAQBJpEEQCzCIuw9EeEQTuESoqBCEm4BoQkmdOERlvAKnyDiOByn43JEhzqS43bgaA5zdMfjWI7X8TlEPIfn9Fye6FFP8twePM1jnu55PMvzej6PSOAInIErEAMaSIE7QKAFLNADT2AF3sAXEFEO5VQuJSqqJOVWUJpiSlceZSmv8ikimSNzZq5MzGgmZe4MmZaxTM88mZV5M19GpHAUzsJViAUtpMJdoNAKVuiFp7AKb+EriFSOylm5KrGilVS5K1RaxSq98lRW5a18FRHjME7jMqKhRjJuA6MZZnTjMZbxGp8hMjgG5+AaxIEO0uAeMGgDG/TBM1iDd/ANRCbH5JxckzjRSZrcEyZtYpM+eSZr8k6+icjm2JybaxM3ukmbe8OmbWzTN89mbd7Nt/kBM20MkPuQDQgAAAAASUVORK5CYII=';

type Schema = Record<string, unknown>;

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const bool = (description: string, dflt: boolean): Schema => ({ type: 'boolean', description, default: dflt });
const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', minimum: 1, description, ...extra });
const strList = (description: string): Schema => ({ description, oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] });
const image = (
  description = 'an image: data URI, base64, http(s) URL (--allow-remote-images), file:NAME (--image-root), or a multipart file part',
): Schema => ({ type: 'string', description });
const imageList = (description: string): Schema => ({ description, oneOf: [image(), { type: 'array', items: image() }] });
const textMode = (dflt: string): Schema => ({
  type: 'string',
  enum: ['auto', 'short', 'long', 'box'],
  default: dflt,
  description: 'text path: auto = short when the text fits, else long; box = the region-text head (FG-CLIP 2 only)',
});
const model: Schema = str('optional: the served model name or an alias (404 otherwise)');
const box: Schema = { type: 'array', items: { type: 'number' }, minItems: 4, maxItems: 4, description: '[x1, y1, x2, y2] in image pixels' };
const templates: Schema = {
  description: '"none", "imagenet" (the 80 prompts) or a list of templates with one {}',
  oneOf: [
    { type: 'string', enum: ['none', 'imagenet'] },
    { type: 'array', items: { type: 'string' } },
  ],
};

const errorSchema: Schema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: 'string' } },
      required: ['message', 'type', 'param', 'code'],
    },
  },
};

const errors = {
  '400': {
    description: 'invalid input (the error names the field in `param`)',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  },
  '401': { description: 'missing or wrong API key' },
  '404': { description: 'unknown model name' },
  '413': { description: 'body or image too large' },
  '503': { description: 'queue full (Retry-After) or shutting down' },
  '504': { description: 'the request deadline (--timeout-ms) passed' },
};

interface Op {
  readonly summary: string;
  readonly fields: Record<string, Schema>;
  readonly required: readonly string[];
  /** request examples; each is sent to a server by openapi.test.ts (a collection route needs --collection) */
  readonly examples: Record<string, unknown>;
  readonly response: string;
  readonly multipart?: boolean;
}

const POST: Record<string, Op> = {
  '/v1/embeddings': {
    summary: "OpenAI's embeddings API, with infinity's `modality` for images; vectors L2-normalized",
    fields: {
      input: { description: 'texts, or images when modality is image', oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
      model,
      encoding_format: { type: 'string', enum: ['float', 'base64'], default: 'float' },
      modality: { type: 'string', enum: ['text', 'image'], default: 'text' },
      text_mode: textMode('auto'),
      truncate: bool('cut over-long texts instead of answering 400', false),
      user: str('accepted and ignored (OpenAI field)'),
      dimensions: { description: 'rejected with 400: FG-CLIP embeddings have one fixed size' },
    },
    required: ['input'],
    examples: { texts: { input: ['a photo of a cat', 'a photo of a dog'] }, image: { input: EXAMPLE_IMAGE, modality: 'image' } },
    response: '{object: "list", data: [{object: "embedding", index, embedding}], model, usage}',
    multipart: true,
  },
  '/v1/classify': {
    summary: 'zero-shot classification: softmax over the labels (FG-CLIP v1), or a sigmoid per label (FG-CLIP 2); `scoring` says which',
    fields: {
      model,
      images: imageList('one image or a list'),
      labels: strList('candidate labels; multipart also takes "a,b" or repeated parts'),
      templates,
      text_mode: textMode('short'),
      truncate: bool('cut over-long prompts', false),
      top_k: int('keep the K most probable labels'),
    },
    required: ['images', 'labels'],
    examples: {
      basic: { images: EXAMPLE_IMAGE, labels: ['a cat', 'a dog'] },
      templates: { images: [EXAMPLE_IMAGE], labels: ['cat', 'dog'], templates: 'imagenet', top_k: 1 },
    },
    response: '{object: "list", data: [{object: "classification", index, labels: [{label, probability, cosine}]}], scoring, model, usage}',
    multipart: true,
  },
  '/v1/heatmap': {
    summary: 'dense patch·text cosines per text, as JSON or a PNG figure',
    fields: {
      model,
      image: image(),
      texts: strList('texts to map'),
      format: { type: 'string', enum: ['json', 'png'], default: 'json' },
      text_mode: { ...textMode('short'), description: "text path (default short; FG-CLIP 2: box, as its model card's dense example)" },
      truncate: bool('cut over-long texts', false),
    },
    required: ['image', 'texts'],
    examples: { json: { image: EXAMPLE_IMAGE, texts: ['a cat'] }, png: { image: EXAMPLE_IMAGE, texts: 'a cat', format: 'png' } },
    response: '{object: "heatmap", grid, image_size, texts, similarity: [[…]], model, usage} or image/png',
    multipart: true,
  },
  '/v1/regions': {
    summary: 'region features of boxes (RoIAlign on the dense map), or labels ranked per box (FG-OVD scoring)',
    fields: {
      model,
      image: image(),
      boxes: { type: 'array', items: box },
      labels: strList('optional candidate labels'),
      truncate: bool('cut over-long labels', false),
      encoding_format: { type: 'string', enum: ['float', 'base64'], default: 'float' },
    },
    required: ['image', 'boxes'],
    examples: {
      features: { image: EXAMPLE_IMAGE, boxes: [[0, 0, 8, 6]] },
      labels: {
        image: EXAMPLE_IMAGE,
        boxes: [
          [0, 0, 8, 6],
          [4, 2, 16, 12],
        ],
        labels: ['a cat', 'a dog'],
      },
    },
    response: '{object: "list", image_size, data: [{object: "region", index, box, embedding | labels}], model}',
    multipart: true,
  },
  '/v1/rank': {
    summary: 'one text or image query against text or image candidates, by cosine (cross-modal: with the model card probabilities)',
    fields: {
      model,
      query: {
        description: 'one text, or one image with query_modality image',
        oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 1 }],
      },
      query_modality: { type: 'string', enum: ['text', 'image'], default: 'text' },
      candidates: strList('texts or images'),
      candidate_modality: { type: 'string', enum: ['text', 'image'], default: 'text' },
      text_mode: textMode('auto'),
      truncate: bool('cut over-long texts', false),
      top_k: int('keep the K best'),
    },
    required: ['query', 'candidates'],
    examples: {
      textToImages: { query: 'a cat', candidates: [EXAMPLE_IMAGE, EXAMPLE_IMAGE], candidate_modality: 'image' },
      textToTexts: { query: 'a cat', candidates: ['a kitten', 'a truck'], top_k: 1 },
    },
    response: '{object: "list", data: [{index, score, probability?}], model, usage}',
    multipart: true,
  },
  '/v1/analyze': {
    summary: "the web page's analysis from ONE vision pass: classification, a heatmap per label, labels ranked per box",
    fields: {
      model,
      image: image(),
      labels: strList('captions / labels; multipart also takes "a,b" or repeated parts'),
      templates,
      text_mode: textMode('auto'),
      truncate: bool('cut over-long texts', false),
      boxes: { type: 'array', items: box },
      heatmaps: { type: 'string', enum: ['png', 'json', 'none'], default: 'png' },
    },
    required: ['image', 'labels'],
    examples: {
      all: { image: EXAMPLE_IMAGE, labels: ['a cat', 'a dog'], boxes: [[0, 0, 8, 6]] },
      json: { image: EXAMPLE_IMAGE, labels: 'a cat', heatmaps: 'json' },
    },
    response:
      '{object: "analysis", image_size, grid, scoring, labels: [{label, probability, cosine}], heatmaps: [{text, png | similarity}], regions: [{index, box, labels}], model, usage}',
    multipart: true,
  },
  '/rerank': {
    summary: 'rerank as TEI, infinity and Cohere clients send it: cosine of query and document text embeddings, best first',
    fields: {
      model,
      query: str('the text to rank against'),
      documents: {
        type: 'array',
        items: { oneOf: [{ type: 'string' }, { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] }] },
        description: 'Cohere / infinity form',
      },
      top_n: int('keep the N best (Cohere / infinity)'),
      return_documents: bool('echo each document (Cohere / infinity)', false),
      texts: { type: 'array', items: { type: 'string' }, description: 'TEI form: answered as TEI does, [{index, score, text?}]' },
      return_text: bool('echo each text (TEI)', false),
      raw_scores: bool('TEI: accepted; the scores are raw cosines either way', false),
      truncate: { type: 'boolean', description: 'cut over-long texts (default true with documents, false with texts as in TEI)' },
    },
    required: ['query'],
    examples: {
      cohere: { query: 'a cat', documents: ['a kitten on a sofa', 'a red truck'], top_n: 1, return_documents: true },
      tei: { query: 'a cat', texts: ['a kitten', 'a truck'], return_text: true },
    },
    response: '{object: "rerank", id, results: [{index, relevance_score, document?: {text}}], model, usage, meta} (TEI form: [{index, score, text?}])',
  },
  '/v1/collection/search': {
    summary: 'search the served collection by text or image (global or region vectors)',
    fields: {
      model,
      text: str('text query'),
      image: image(),
      regions: bool('search region vectors', false),
      top_k: int('results', { maximum: 100, default: 10 }),
      filter: { type: 'object' },
      thumbnails: int('thumbnail size in pixels (16..512)'),
    },
    required: [],
    examples: { text: { text: 'a cat', top_k: 3 } },
    response: '{object: "list", score: "cosine", regions, results: [{path, score, width, height, modified, box?, thumbnail?}]}',
  },
  '/v1/collection/add': {
    summary: 'embed and upsert images: file: paths under --image-root and/or uploaded images (kept in the collection)',
    fields: { model, paths: strList('file:NAME under the image root'), images: imageList('uploaded files, data URIs or base64') },
    required: [],
    examples: { upload: { images: [EXAMPLE_IMAGE] } },
    response: '{object: "collection.add", added, updated, unchanged, total, paths}',
    multipart: true,
  },
  '/v1/collection/remove': {
    summary: 'remove stored paths (and their regions)',
    fields: { model, paths: strList('stored paths') },
    required: ['paths'],
    examples: { one: { paths: ['/nowhere/not-stored.jpg'] } },
    response: '{object: "collection.remove", removed, total}',
  },
};
POST['/v1/rerank'] = { ...POST['/rerank'], summary: `${POST['/rerank'].summary} (same as /rerank)` };

const GET: Record<string, { summary: string; auth: boolean; response: string; contentType?: string }> = {
  '/health': { summary: 'liveness and queue depths (503 while draining); never needs a key', auth: false, response: '{status, model, queue}' },
  '/openapi.json': { summary: 'this document', auth: false, response: 'OpenAPI 3.1' },
  '/v1/models': {
    summary: "OpenAI's model list: the served model and its aliases (--served-name)",
    auth: true,
    response: '{object: "list", data: [{id, family, dimensions, image_size, grid, max_tokens, scoring, alias_of?}]}',
  },
  '/metrics': {
    summary: 'Prometheus metrics (requests, latency, batch sizes, queue depths)',
    auth: true,
    response: 'Prometheus text',
    contentType: 'text/plain',
  },
  '/v1/collection': {
    summary: 'stats of the served collection',
    auth: true,
    response: '{object: "collection", uri, images, regions, region_scheme, indexed, version, model}',
  },
};

/** Request examples of a POST route (for the test that sends them). */
export function requestExamples(path: string): Record<string, unknown> {
  return POST[path]?.examples ?? {};
}

export interface OpenApiContext {
  readonly modelName: string;
  readonly aliases: readonly string[];
  /** the server's own URL once listening ('' before) */
  readonly url: string;
  readonly collection: boolean;
}

export function openApiDocument(c: OpenApiContext): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const security = [{ bearer: [] }, {}];
  for (const [path, g] of Object.entries(GET)) {
    paths[path] = {
      get: {
        summary: g.summary,
        ...(g.auth ? { security } : {}),
        responses: {
          '200': { description: g.response, content: { [g.contentType ?? 'application/json']: {} } },
          ...(path === '/v1/collection' ? { '404': { description: 'no collection is served (--collection)' } } : {}),
        },
      },
    };
  }
  for (const [path, op] of Object.entries(POST)) {
    const schema = { type: 'object', additionalProperties: false, properties: op.fields, required: [...op.required] };
    const examples = Object.fromEntries(Object.entries(op.examples).map(([k, v]) => [k, { value: v }]));
    paths[path] = {
      post: {
        summary: op.summary,
        security,
        requestBody: {
          required: true,
          content: {
            'application/json': { schema, examples },
            ...(op.multipart
              ? {
                  'multipart/form-data': {
                    schema: {
                      type: 'object',
                      description: 'the JSON fields as parts: JSON values or plain text; images as file parts; a repeated name is a list',
                    },
                  },
                }
              : {}),
          },
        },
        responses: { '200': { description: op.response, content: { 'application/json': {} } }, ...errors },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'fgclip server',
      version: '1',
      description: `FG-CLIP embeddings, classification, heatmaps, regions and ranking. Serving ${JSON.stringify(c.modelName)}${c.aliases.length ? ` (also answers to ${c.aliases.map((a) => JSON.stringify(a)).join(', ')})` : ''}${c.collection ? ' with a collection' : ' (no collection: the /v1/collection routes answer 404)'}. See docs/server.md.`,
    },
    ...(c.url ? { servers: [{ url: c.url }] } : {}),
    components: {
      schemas: { Error: errorSchema },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'when the server runs with --api-key' } },
    },
    paths,
  };
}
