/**
 * Search queries: a text or an image as the normalized query vector (docs/model-spec.md §6.1: retrieval similarity is
 * the cosine of L2-normalized features). Folder search (`searchImages`) and collections rank images against it
 * (src/collection/).
 */
import { FgClipError } from '../errors.js';
import type { Encoder, ImageInput } from '../model/encoder.js';

export type SearchQuery = { readonly text: string } | { readonly image: ImageInput };

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
