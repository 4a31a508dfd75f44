export type { Activation, FgClipConfig, PreprocessConfig, TextConfig, TowerConfig, VisionConfig } from './types.js';
export { ACTIVATIONS, CLIP_DEFAULTS, FGCLIP_FORCED_IDS, LONG_KEEP_LENGTH, LONG_MAX_LENGTH, loadConfig, parseConfig, readConfigJson } from './load.js';
export { CLIP_IMAGE_PROCESSOR_DEFAULTS, loadPreprocessConfig, parsePreprocessConfig, type WarningSink } from './preprocessor.js';
