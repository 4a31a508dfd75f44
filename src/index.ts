/**
 * fgclip: FG-CLIP for TypeScript. The library is the product; the CLI and the server are thin adapters over it.
 */
export { FgClip, type HandleParts, type LoadOptions, type PreprocessMode } from './model/handle.js';
export type {
  EncodeImageOptions,
  EncodeTextOptions,
  Encoder,
  ImageEncoding,
  ImageInput,
  PreprocessedImage,
  TextEncoding,
  TextModeOption,
} from './model/encoder.js';
export { FAMILIES, describeFamilies, familyOf, pickFamily } from './families/registry.js';
export type {
  FamilyLoadContext,
  FamilyLoadOptions,
  FamilyModel,
  ModelFamily,
  TextLengths,
  TextTokenizer,
  VisionFeatures,
  VisionRunOptions,
} from './families/types.js';
export type { PixelBox } from './model/boxes.js';
export type { TextMode } from './families/types.js';
export type { GridBox } from './postprocess/roi-align.js';
export { FgClipError, isFgClipError, type FgClipErrorCode } from './errors.js';
export { cosine, cosineMatrix, ensemble, l2normalize, probabilities, softmax } from './postprocess/similarity.js';
export { ClipTokenizer, type Encoding, type EncodeOptions } from './tokenizer/index.js';
export { decodeImage, preprocessImage, resizeBicubic, toPixelValues, type DecodeOptions, type RgbImage } from './preprocess/index.js';
export { loadConfig, loadPreprocessConfig } from './config/index.js';
export type { FgClipConfig, PreprocessConfig } from './config/types.js';
export { readSafetensors, readPytorchBin, buildLongPositionTables } from './weights/index.js';
export { fgclipTensors, loadCheckpoint } from './families/fgclip/checkpoint.js';
export { resolveModelDir, snapshotDownload, downloadFile, cachedModels, defaultCacheDir, type HubOptions } from './hub/index.js';
export { renderHeatmap, viridis, type HeatmapPanel, type RenderOptions } from './heatmap/index.js';
export * from './tasks/index.js';
export * from './collection/index.js';
export * from './train/index.js';
export * from './train/loop.js';
// FG-CLIP 2 training: the stage-2 objective's gradient engine and the training loop
export {
  createFgclip2GradientEngine,
  Fgclip2GradientEngine,
  type Fgclip2CheckpointEngine,
  type V2GradientRequest,
  type V2GradientResult,
} from './families/fgclip2/train-engine.js';
export { FGCLIP2_TRAIN_DEFAULTS, trainFgclip2, type Fgclip2StepRecord, type Fgclip2TrainOptions, type Fgclip2TrainResult } from './families/fgclip2/train.js';
