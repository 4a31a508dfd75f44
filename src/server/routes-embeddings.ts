/**
 * POST /v1/embeddings — OpenAI's embeddings API (https://platform.openai.com/docs/api-reference/embeddings), with
 * infinity's `modality` extension for images. Vectors are L2-normalized, as OpenAI's are.
 *   input            string | string[]       texts, or images (data URIs / base64 / URLs / file: paths) when modality is image
 *   model            string (optional)       must name the served model
 *   encoding_format  'float' | 'base64'      base64 = little-endian float32 bytes, as OpenAI
 *   modality         'text' | 'image'        default text
 *   text_mode        'auto' | 'short' | 'long' | 'box'  auto: short when it fits (v1 77, v2 64 tokens), else long
 *                    (248 / 196); box: FG-CLIP 2's region-text head
 *   truncate         boolean                 cut over-long texts instead of answering 400
 *   user             string                  accepted and ignored (OpenAI field)
 *   dimensions       —                       rejected with 400: FG-CLIP embeddings have one fixed size
 */
import { badRequest } from './http-error.js';
import { base64Floats, checkModel, embedImages, encoder, floats, type Handler } from './context.js';
import { TEXT_MODES } from './routes-tasks.js';
import { checkFields, has, imageOf, optBool, optEnum, optString, stringList, tooMany } from './validate.js';

const FIELDS = ['input', 'model', 'encoding_format', 'modality', 'text_mode', 'truncate', 'user', 'dimensions'] as const;

export const embeddings: Handler = async (body, ctx) => {
  checkFields(body, FIELDS, 'POST /v1/embeddings');
  if (has(body, 'dimensions')) {
    throw badRequest(
      'UNSUPPORTED_FIELD',
      `dimensions: not supported (FG-CLIP embeddings have ${ctx.engine.embeddingDim} dimensions; omit the field, or truncate and renormalize on your side)`,
      'dimensions',
    );
  }
  checkModel(body, ctx);
  optString(body, 'user');
  const format = optEnum(body, 'encoding_format', ['float', 'base64'] as const, 'float');
  const modality = optEnum(body, 'modality', ['text', 'image'] as const, 'text');
  const textMode = optEnum(body, 'text_mode', TEXT_MODES, 'auto');
  const truncate = optBool(body, 'truncate', false);
  const encode = format === 'base64' ? base64Floats : floats;

  let vectors: Float32Array[];
  if (modality === 'text') {
    const texts = stringList(body, 'input', ctx.limits.maxInputs, 'a string or a list of strings');
    vectors = (await encoder(ctx, { texts: 'input' }).encodeTexts(texts, { mode: textMode, truncate })).embeddings;
  } else {
    if (has(body, 'text_mode') || has(body, 'truncate'))
      throw badRequest(
        'INPUT_INVALID',
        'text_mode and truncate apply to text input only (modality is image)',
        has(body, 'text_mode') ? 'text_mode' : 'truncate',
      );
    const raw = body.input;
    const list = Array.isArray(raw) ? raw : [raw];
    if (raw === undefined || raw === null) throw badRequest('INPUT_INVALID', 'input is required (an image or a list of images)', 'input');
    if (list.length === 0) throw badRequest('INPUT_INVALID', 'input: the list of images is empty', 'input');
    if (list.length > ctx.limits.maxImages) throw tooMany('input', list.length, ctx.limits.maxImages);
    const refs = list.map((x, i) => imageOf(x, `input[${i}]`));
    vectors = await embedImages(refs, (i) => `input[${i}]`, ctx);
  }
  return {
    json: {
      object: 'list',
      data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: encode(v) })),
      model: ctx.modelName,
      usage: { prompt_tokens: ctx.usage.tokenCount, total_tokens: ctx.usage.tokenCount },
    },
  };
};
