/**
 * What an endpoint handler gets: the engine, the limits, the request's deadline signal and batch stats, and the
 * shared steps every endpoint uses (image refs → decoded, preprocessed pixels; the `model` field check).
 */
import type { SubmitStats } from './batcher.js';
import type { Collection } from '../collection/collection.js';
import type { Encoder } from '../model/encoder.js';
import type { RequestObject } from './body.js';
import type { Engine, Usage } from './engine.js';
import { HttpError } from './http-error.js';
import { type ImagePolicy, loadImageBytes } from './images.js';
import { type ImageRef, optString } from './validate.js';

export interface Limits {
  /** texts (or labels, candidates) per request */
  readonly maxInputs: number;
  /** images per request */
  readonly maxImages: number;
}

export interface Ctx {
  readonly engine: Engine;
  /** the id this server answers to in `model` fields and /v1/models */
  readonly modelName: string;
  /** other ids accepted in `model` fields (--served-name) */
  readonly aliases: readonly string[];
  readonly limits: Limits;
  readonly images: ImagePolicy;
  /** aborted at the request deadline or when the client goes away */
  readonly signal: AbortSignal;
  readonly stats: SubmitStats;
  /** items (texts + images) and tokens this request fed to the model, for the request log and `usage` */
  readonly usage: Usage;
  /** the served collection (the /v1/collection routes), if any */
  readonly collection?: Collection;
}

export type Reply = { readonly status?: number; readonly json: unknown } | { readonly status?: number; readonly body: Buffer; readonly contentType: string };

export type Handler = (body: RequestObject, ctx: Ctx) => Promise<Reply>;

/**
 * The model as a route uses it: the engine's `Encoder`, carrying this request's deadline, batch stats and usage,
 * and the request's field names for error messages (`images[2]: …`, param "images[2]").
 */
export function encoder(ctx: Ctx, fields: { texts?: string; image?: (i: number) => string } = {}): Encoder {
  return ctx.engine.bind({ signal: ctx.signal, stats: ctx.stats, usage: ctx.usage, textField: fields.texts, imageName: fields.image });
}

/** The optional OpenAI `model` field: when given it must name the served model or an alias (404 otherwise, as OpenAI). */
export function checkModel(body: RequestObject, ctx: Ctx): void {
  const m = optString(body, 'model');
  if (m !== undefined && m !== ctx.modelName && !ctx.aliases.includes(m)) {
    const names = [ctx.modelName, ...ctx.aliases].map((n) => JSON.stringify(n)).join(', ');
    throw new HttpError(
      404,
      'not_found_error',
      'MODEL_NOT_FOUND',
      `the model ${JSON.stringify(m)} is not served here (this server serves ${ctx.engine.family} model ${names}; see GET /v1/models, or start the server with --served-name ${m} to answer to that name)`,
      'model',
    );
  }
}

/** Image refs → their bytes, under the server's image policy (data URIs, base64, uploads, file: under --image-root, URLs). */
export async function imageBytes(refs: readonly ImageRef[], field: (i: number) => string, ctx: Ctx): Promise<Uint8Array[]> {
  const out = await Promise.all(refs.map((ref, i) => loadImageBytes(ref, field(i), ctx.images, ctx.signal)));
  ctx.signal.throwIfAborted();
  return out;
}

/** Image refs → L2-normalized global embeddings, through the engine. */
export async function embedImages(refs: readonly ImageRef[], field: (i: number) => string, ctx: Ctx): Promise<Float32Array[]> {
  const bytes = await imageBytes(refs, field, ctx);
  return (await encoder(ctx, { image: field }).encodeImages(bytes)).map((e) => e.embedding);
}

/** Float vectors for JSON: plain arrays of the float32 values (exact when read back into a Float32Array). */
export function floats(v: Float32Array): number[] {
  return Array.from(v);
}

/** OpenAI's `encoding_format: "base64"`: the little-endian float32 bytes, base64 encoded. */
export function base64Floats(v: Float32Array): string {
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i], i * 4);
  return buf.toString('base64');
}
