/**
 * Search queries: a text or an image as the normalized query vector (docs/model-spec.md §6.1: retrieval similarity is
 * the cosine of L2-normalized features). Folder search (`searchImages`) and collections rank images against it
 * (src/collection/).
 */
import { FgClipError } from '../errors.js';
import type { Encoder, ImageInput } from '../model/encoder.js';

export type SearchQuery = { readonly text: string } | { readonly image: ImageInput };

/**
 * The text path of a query: a region search on a model with a box (region-text) head takes it (FG-CLIP 2's box
 * tasks: walk_type="box", 64 tokens, cut to fit); otherwise 'auto' (short when it fits, else long).
 */
export function queryTextMode(model: Encoder, regions = false): 'box' | 'auto' {
  return regions && model.textLengths.box !== undefined ? 'box' : 'auto';
}

/** The normalized query vector: a text (long path when it needs more than the short one holds; region searches: see queryTextMode) or an image. */
export async function queryEmbedding(
  model: Encoder,
  query: SearchQuery,
  onWarning?: (m: string) => void,
  opts: { regions?: boolean } = {},
): Promise<Float32Array> {
  if (query && 'text' in query && typeof query.text === 'string') {
    if (query.text.trim() === '') throw new FgClipError('INPUT_INVALID', 'search: the text query is empty');
    const mode = queryTextMode(model, opts.regions);
    const t = await model.encodeTexts([query.text], { mode });
    if (t.truncated[0])
      onWarning?.(
        `the query has ${t.tokenCounts[0]} tokens; cut to the ${mode === 'box' ? 'box' : 'long'} path's ${mode === 'box' ? model.textLengths.box : model.textLengths.long}`,
      );
    return t.embeddings[0];
  }
  if (query && 'image' in query && query.image !== undefined) return (await model.encodeImages([query.image]))[0].embedding;
  throw new FgClipError('INPUT_INVALID', 'search: the query must be {text} or {image}');
}
