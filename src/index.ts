/**
 * fgclip: FG-CLIP for TypeScript. The library is the product; the CLI and the server are thin adapters over it.
 */
export { FgClip, type EncodeImageOptions, type EncodeTextOptions, type ImageEncoding, type ImageInput, type LoadOptions, type PreprocessMode, type TextEncoding, type TextModeOption } from './model/fgclip.js';
export type { PixelBox } from './model/boxes.js';
export type { TextMode } from './families/fgclip/text-inputs.js';
export type { GridBox } from './postprocess/roi-align.js';
export { FgClipError, isFgClipError, type FgClipErrorCode } from './errors.js';
export { cosine, cosineMatrix, ensemble, l2normalize, probabilities, softmax } from './postprocess/similarity.js';
export { ClipTokenizer, type Encoding, type EncodeOptions } from './tokenizer/index.js';
export { decodeImage, preprocessImage, resizeBicubic, toPixelValues, type DecodeOptions, type RgbImage } from './preprocess/index.js';
export { loadConfig, loadPreprocessConfig } from './config/index.js';
export type { FgClipConfig, PreprocessConfig } from './config/types.js';
export { loadCheckpoint, readSafetensors, readPytorchBin, buildLongPositionTables } from './weights/index.js';
export { resolveModelDir, snapshotDownload, downloadFile, cachedModels, defaultCacheDir, type HubOptions } from './hub/index.js';
export { renderHeatmap, viridis, type HeatmapPanel, type RenderOptions } from './heatmap/index.js';
export * from './tasks/index.js';
