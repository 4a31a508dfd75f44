/** Image decoding and preprocessing: bytes → Pillow-identical RGB → PIL-bicubic resize → CLIP `pixel_values`. */
export { assertRgbImage, type PreprocessOptions, type ResizeMode, type RgbImage } from './types.js';
export { decodeImage, DEFAULT_MAX_PIXELS, type DecodeOptions } from './decode.js';
export { bicubicFilter, passCoefficients, resizeBicubic, type PassCoefficients } from './resize.js';
export { batchPixelValues, DEFAULT_RESCALE_FACTOR, toPixelValues, type NormalizeConfig } from './normalize.js';
export { centerCrop, loadAndPreprocess, preprocessImage, resizeForModel, shortestEdgeSize } from './pipeline.js';
