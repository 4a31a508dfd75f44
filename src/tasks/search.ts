/**
 * Image search over a folder: every image's normalized embedding, cached on disk by the sha256 of its bytes (per
 * model identity and preprocessing fingerprint), ranked by cosine against a text or an image query (docs/model-spec.md §6.1:
 * retrieval similarity is the cosine of L2-normalized features). A grown folder only encodes its new files; a
 * renamed or copied file is found by content and not encoded again. Unreadable images are skipped with a warning.
 */
import { FgClipError } from '../errors.js';
import type { Encoder, ImageInput } from '../model/encoder.js';
import { dot } from '../postprocess/similarity.js';
import type { RgbImage } from '../preprocess/index.js';
import { VectorStore, type CacheSetting } from '../cache/vector-store.js';
import { decodeOrSkip, isSkipped, listImages, readOrSkip, type SkippedImage } from './images.js';
import { modelIdentity, preprocessFingerprint, sha256 } from '../cache/model-identity.js';

export type SearchQuery = { readonly text: string } | { readonly image: ImageInput };

export interface IndexOptions {
  /** disk cache settings, or false for memory only (default: the fgclip cache folder) */
  readonly cache?: CacheSetting;
  /** images decoded and encoded per step (default 16) */
  readonly batchSize?: number;
  readonly onWarning?: (message: string) => void;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface SearchOptions extends IndexOptions {
  /** how many results (default 10) */
  readonly top?: number;
}

export interface SearchHit {
  readonly path: string;
  readonly score: number;
}

export interface ImageIndex {
  readonly paths: string[];
  readonly embeddings: Float32Array[];
  /** images the vision tower ran on in this call (the rest came from the cache) */
  readonly encoded: number;
  readonly skipped: SkippedImage[];
}

export interface SearchOutput {
  /** best first; ties keep folder order */
  readonly results: SearchHit[];
  /** images ranked */
  readonly indexed: number;
  readonly encoded: number;
  readonly skipped: SkippedImage[];
}

/** Embeddings of image files (normalized), from the cache where their bytes were seen before. */
export async function indexImages(model: Encoder, paths: readonly string[], opts: IndexOptions = {}): Promise<ImageIndex> {
  const cache = opts.cache ?? {};
  const bs = opts.batchSize ?? 16;
  if (!Number.isInteger(bs) || bs < 1) throw new FgClipError('INPUT_INVALID', `search: batchSize must be a positive integer (got ${bs})`);
  const store = VectorStore.open(cache, await modelIdentity(model, cache), `images-${(await preprocessFingerprint(model)).slice(0, 16)}`, model.embeddingDim);
  const out = { paths: [] as string[], embeddings: [] as Float32Array[], encoded: 0, skipped: [] as SkippedImage[] };
  const skip = (x: SkippedImage) => {
    out.skipped.push(x);
    opts.onWarning?.(`skipping ${x.image}: ${x.message}`);
  };
  for (let s = 0; s < paths.length; s += bs) {
    const part = paths.slice(s, s + bs);
    const bytes = await Promise.all(part.map((p, k) => readOrSkip(p, s + k)));
    const keys = bytes.map((b) => (b instanceof Uint8Array ? sha256(b) : undefined));
    const fresh: number[] = [];
    for (let k = 0; k < part.length; k++) {
      const b = bytes[k];
      if (!(b instanceof Uint8Array)) skip(b);
      else if (!store.has(keys[k] as string) && !fresh.some((j) => keys[j] === keys[k])) fresh.push(k);
    }
    const decoded = await Promise.all(fresh.map((k) => decodeOrSkip(model, bytes[k] as Uint8Array, s + k)));
    const todo: { k: number; img: RgbImage }[] = [];
    decoded.forEach((img, i) => {
      if (isSkipped(img)) skip({ ...img, image: part[fresh[i]] });
      else todo.push({ k: fresh[i], img });
    });
    if (todo.length > 0) {
      const enc = await model.encodeImages(todo.map((t) => t.img));
      todo.forEach((t, i) => store.put(keys[t.k] as string, enc[i].embedding));
      store.flush();
      out.encoded += todo.length;
    }
    part.forEach((p, k) => {
      const v = keys[k] && store.get(keys[k] as string);
      if (v) {
        out.paths.push(p);
        out.embeddings.push(v);
      }
    });
    opts.onProgress?.(Math.min(s + bs, paths.length), paths.length);
  }
  return out;
}

/** The normalized query vector: a text (long path when it needs more than 77 tokens) or an image. */
export async function queryEmbedding(model: Encoder, query: SearchQuery, onWarning?: (m: string) => void): Promise<Float32Array> {
  if (query && 'text' in query && typeof query.text === 'string') {
    if (query.text.trim() === '') throw new FgClipError('INPUT_INVALID', 'search: the text query is empty');
    const t = await model.encodeTexts([query.text], { mode: 'auto' });
    if (t.truncated[0]) onWarning?.(`the query has ${t.tokenCounts[0]} tokens; cut to the long path's 248`);
    return t.embeddings[0];
  }
  if (query && 'image' in query && query.image !== undefined) return (await model.encodeImages([query.image]))[0].embedding;
  throw new FgClipError('INPUT_INVALID', 'search: the query must be {text} or {image}');
}

/** Ranks the images under `dir` (recursively) against the query by cosine. */
export async function searchImages(model: Encoder, dir: string, query: SearchQuery, opts: SearchOptions = {}): Promise<SearchOutput> {
  const top = opts.top ?? 10;
  if (!Number.isInteger(top) || top < 1) throw new FgClipError('INPUT_INVALID', `search: top must be a positive integer (got ${top})`);
  const paths = await listImages(dir);
  const q = await queryEmbedding(model, query, opts.onWarning);
  const index = await indexImages(model, paths, opts);
  const scored = index.paths.map((path, i) => ({ path, score: dot(q, index.embeddings[i]), i }));
  scored.sort((a, b) => b.score - a.score || a.i - b.i);
  return { results: scored.slice(0, top).map(({ path, score }) => ({ path, score })), indexed: index.paths.length, encoded: index.encoded, skipped: index.skipped };
}
