/** Image preprocessing off the main thread: a worker pool with ordered, bounded, per-item-error results. */
export { createPreprocessPool, type PoolInput, type PoolResult, type PreprocessedImage, type PreprocessPool, type PreprocessPoolOptions } from './pool.js';
