/** Everyday tasks on a loaded model: zero-shot classification, folder search, heatmaps, region labels. */
export { fgclipCacheDir, VectorStore, clearMemoryCache, type CacheOptions, type CacheSetting } from '../cache/vector-store.js';
export {
  classifyEmbedding,
  classifyImages,
  classifyImagesIter,
  labelEmbeddings,
  promptEnsembles,
  type ClassifyOptions,
  type ClassifyOutput,
  type ClassifyResult,
  type LabelEmbeddingOptions,
} from './classify.js';
export { denseSimilarity, heatmap, type HeatmapResult } from './heatmap.js';
export { describeInput, IMAGE_EXTENSIONS, listImages, type SkippedImage } from './images.js';
export { fileDigest, folderIdentity, modelIdentity, preprocessFingerprint } from '../cache/model-identity.js';
export { checkLabels, classifyRegions, FGOVD_SCALE, rankLabels, rankRegionLabels, type LabelScore, type RegionResult } from './regions.js';
export { rank, rankEmbeddings, type RankCandidates, type RankHit, type RankSide } from './rank.js';
export { queryEmbedding, type SearchQuery } from './search.js';
export { fillTemplate, IMAGENET_TEMPLATES, readTemplatesFile, resolveTemplates, type TemplateSpec } from './templates.js';
