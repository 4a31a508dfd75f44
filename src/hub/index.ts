/**
 * Models by name from the Hugging Face Hub, with no dependencies beyond Node 20. The cache is shared with
 * Python's huggingface_hub (same layout, same environment variables: HF_HOME, HF_HUB_CACHE, HF_ENDPOINT,
 * HF_TOKEN, HF_TOKEN_PATH, HF_HUB_OFFLINE), so a model fetched by either is reused by the other.
 *
 * Concurrency: no file lock. Each download writes its own uniquely named temp file and renames it onto the
 * content-addressed blob; refs and snapshot pointers are also written through temp + rename. Two processes
 * fetching the same file at once may both download it, but the cache is never left with partial or mixed bytes.
 */
export { cachedModels, type CachedModel } from './cache.js';
export { downloadFile } from './download.js';
export { HubHttpError } from './http.js';
export { formatBytes, progressBar } from './progress.js';
export { defaultCacheDir, defaultEndpoint, defaultToken, hubFileUrl, isOfflineEnv, isRepoId, parseModelRef, type Env, type HubOptions } from './settings.js';
export {
  MODEL_CONFIG_FILE,
  MODEL_OPTIONAL_FILES,
  PYTORCH_FILE,
  resolveModelDir,
  SAFETENSORS_FILE,
  SAFETENSORS_INDEX_FILE,
  snapshotDownload,
} from './snapshot.js';
