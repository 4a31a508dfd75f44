/**
 * What an endpoint handler gets: the engine, the limits, the request's deadline signal and batch stats, and the
 * shared steps every endpoint uses (image refs → decoded, preprocessed pixels; the `model` field check).
 */
import { FgClipError } from '../errors.js';
import { l2normalize } from '../postprocess/similarity.js';
import { decodeImage, type RgbImage } from '../preprocess/index.js';
import type { SubmitStats } from './batcher.js';
import type { Engine } from './engine.js';
import { HttpError, statusForCode } from './http-error.js';
import { loadImageBytes, type ImagePolicy } from './images.js';
import type { RequestObject } from './body.js';
import type { PixelBudget } from './pixel-budget.js';
import type { ServedModel } from './served-model.js';
import { optString, type ImageRef } from './validate.js';
import sharp from 'sharp';

export interface Limits {
  /** texts (or labels, candidates) per request */
  readonly maxInputs: number;
  /** images per request */
  readonly maxImages: number;
}

export interface Ctx {
  readonly engine: Engine;
  readonly model: ServedModel;
  /** decoded pixels in flight across all requests */
  readonly pixels: PixelBudget;
  /** the id this server answers to in `model` fields and /v1/models */
  readonly modelName: string;
  readonly limits: Limits;
  readonly images: ImagePolicy;
  /** aborted at the request deadline or when the client goes away */
  readonly signal: AbortSignal;
  readonly stats: SubmitStats;
  /** items (texts + images) this request fed to the model, for the request log */
  items: number;
}

export type Reply = { readonly status?: number; readonly json: unknown } | { readonly status?: number; readonly body: Buffer; readonly contentType: string };

export type Handler = (body: RequestObject, ctx: Ctx) => Promise<Reply>;

/** The optional OpenAI `model` field: when given it must name the served model (404 otherwise, as OpenAI). */
export function checkModel(body: RequestObject, ctx: Ctx): void {
  const m = optString(body, 'model');
  if (m !== undefined && m !== ctx.modelName) {
    throw new HttpError(404, 'not_found_error', 'MODEL_NOT_FOUND', `the model ${JSON.stringify(m)} is not served here (this server serves ${JSON.stringify(ctx.modelName)}; see GET /v1/models)`, 'model');
  }
}

export interface LoadedImage {
  readonly rgb: RgbImage;
  readonly pixels: Float32Array; // [3, S, S]
}

/** Image refs → decoded RGB and model pixels. Errors name the field (`images[2]: …`) and keep their code. */
export async function loadImages(refs: readonly ImageRef[], field: (i: number) => string, ctx: Ctx): Promise<LoadedImage[]> {
  return Promise.all(
    refs.map(async (ref, i) => {
      const where = field(i);
      const bytes = await loadImageBytes(ref, where, ctx.images, ctx.signal);
      ctx.signal.throwIfAborted();
      // hold the image's decoded size in the global budget while it is decoded and resized
      const release = await ctx.pixels.acquire(await headerPixels(bytes, ctx.pixels.total), ctx.signal);
      try {
        const rgb = await decodeImage(bytes, ctx.model.decodeOptions());
        ctx.signal.throwIfAborted();
        const { pixels } = await ctx.model.preprocess(rgb);
        return { rgb, pixels };
      } catch (e) {
        if (e instanceof FgClipError && (e.code === 'IMAGE_DECODE' || e.code === 'IMAGE_TOO_LARGE')) {
          const status = statusForCode(e.code);
          throw new HttpError(status, 'invalid_request_error', e.code, `${where}: ${e.message.replace(/^decodeImage\(<\d+ bytes>\): /, '')}`, where);
        }
        throw e;
      } finally {
        release();
      }
    }),
  );
}

/** width × height from the image header (cheap, no pixel decoded); unreadable headers count as one pixel (decodeImage then gives the typed error). */
async function headerPixels(bytes: Buffer, cap: number): Promise<number> {
  try {
    const m = await sharp(bytes, { limitInputPixels: false }).metadata();
    return Math.min(cap, (m.width ?? 1) * (m.pageHeight ?? m.height ?? 1));
  } catch {
    return 1;
  }
}

/** Image refs → L2-normalized global embeddings, through the image batcher. */
export async function embedImages(refs: readonly ImageRef[], field: (i: number) => string, ctx: Ctx): Promise<{ loaded: LoadedImage[]; embeddings: Float32Array[]; dense: Float32Array[][] }> {
  const loaded = await loadImages(refs, field, ctx);
  const out = await ctx.engine.vision(loaded.map((l) => l.pixels), ctx);
  ctx.items += refs.length;
  return { loaded, embeddings: out.map((o) => l2normalize(o.image)), dense: out.map((o) => o.dense) };
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
