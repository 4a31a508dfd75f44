/**
 * Queries on a collection with a model: text (short or long captions, auto mode as `encodeTexts`), image, or
 * region ("which images contain a region matching this phrase, and where"). The model must be the collection's
 * (COLLECTION_MODEL_MISMATCH otherwise). Scores are cosine similarities of L2-normalized vectors.
 */
import { FgClipError } from '../errors.js';
import type { Encoder } from '../model/encoder.js';
import { queryEmbedding, type SearchQuery } from '../tasks/search.js';
import { Collection, type CollectionHit, type CreateOptions, type VectorSearchOptions } from './collection.js';
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

export async function searchCollection(
  model: Encoder,
  coll: Collection,
  query: SearchQuery,
  opts: CollectionSearchOptions = {},
): Promise<CollectionSearchResult> {
  coll.checkModel(await describeModel(model));
  const q = await queryEmbedding(model, query, opts.onWarning, { regions: opts.regions });
  const results = opts.regions ? await coll.searchRegionsVector(q, opts) : await coll.searchVector(q, opts);
  return { score: 'cosine', results };
}

/**
 * Opens the collection at `uri` for `model` (a server's collection): created empty when there is none (under the
 * writer lock); COLLECTION_MODEL_MISMATCH when it holds another model's vectors.
 */
export async function openCollectionFor(model: Encoder, uri: string, opts: CreateOptions & { modelName?: string } = {}): Promise<Collection> {
  const desc = await describeModel(model, opts.modelName);
  let coll: Collection;
  try {
    coll = await Collection.open(uri, opts);
  } catch (e) {
    if (!(e instanceof FgClipError) || e.code !== 'COLLECTION_INVALID' || !/no collection here/.test(e.message)) throw e;
    const lock = Collection.lock(uri, 'fgclip serve (creating the collection)');
    try {
      coll = await Collection.openOrCreate(uri, desc, opts);
    } finally {
      lock.release();
    }
  }
  try {
    coll.checkModel(desc);
  } catch (e) {
    coll.close();
    throw e;
  }
  return coll;
}
