/**
 * Queries on a collection with a model: text (short or long captions, auto mode as `encodeTexts`), image, or
 * region ("which images contain a region matching this phrase, and where"). The model must be the collection's
 * (COLLECTION_MODEL_MISMATCH otherwise). Scores are cosine similarities of L2-normalized vectors.
 */
import type { Encoder } from '../model/encoder.js';
import { queryEmbedding, type SearchQuery } from '../tasks/search.js';
import type { Collection, CollectionHit, VectorSearchOptions } from './collection.js';
import { describeModel } from './embed.js';

export interface CollectionSearchOptions extends VectorSearchOptions {
  /** rank by the best stored region of each image and return its box (default false: global embeddings) */
  readonly regions?: boolean;
  readonly onWarning?: (message: string) => void;
}

export interface CollectionSearchResult {
  /** what `score` is */
  readonly score: 'cosine';
  readonly results: CollectionHit[];
}

export async function searchCollection(model: Encoder, coll: Collection, query: SearchQuery, opts: CollectionSearchOptions = {}): Promise<CollectionSearchResult> {
  coll.checkModel(await describeModel(model));
  const q = await queryEmbedding(model, query, opts.onWarning);
  const results = opts.regions ? await coll.searchRegionsVector(q, opts) : await coll.searchVector(q, opts);
  return { score: 'cosine', results };
}
