/** Collections: persistent, incremental, crash-safe image search on one machine or many (see README "Collections"). */
export {
  Collection,
  DEFAULT_INDEX_THRESHOLD,
  filterSql,
  MAX_TOP,
  type CollectionHit,
  type CollectionInfo,
  type CollectionModel,
  type CollectionStats,
  type CreateOptions,
  type Entry,
  type Filter,
  type ImageRecord,
  type OpenOptions,
  type VectorSearchOptions,
} from './collection.js';
export { folderCollectionPath, searchImages, type SearchHit, type SearchOptions, type SearchOutput } from './folder.js';
export { describeModel, embedFiles, loadFile, type FileJob, type LoadedFile } from './embed.js';
export {
  indexCollection,
  planIndex,
  localEmbedder,
  type Embedder,
  type IndexOptions as CollectionIndexOptions,
  type IndexPhase,
  type IndexReport,
  type Plan,
} from './indexer.js';
export type { StorageOptions } from './lance.js';
export { WriterLock } from './lock.js';
export { REGION_SCHEMES, schemeBoxes, type RegionScheme, type UnitBox } from './regions.js';
export { searchCollection, type CollectionSearchOptions, type CollectionSearchResult } from './search.js';
export { connectRedis, queueEmbedder, runWorker, type QueueOptions, type RunningWorker, type WorkerOptions } from './queue.js';
