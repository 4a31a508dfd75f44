/**
 * preprocessor_config.json (HF `CLIPImageProcessor`) → validated `PreprocessConfig`, cross-checked against the
 * vision tower (style.md P2). Reference: transformers `models/clip/image_processing_clip.py` (defaults, `size` /
 * `crop_size` normalisation via `get_size_dict`).
 */
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { pathExists } from '../platform/node/regular-file.js';
import type { ModelFolder } from '../platform/ports.js';
import { FieldReader, isObject, parseJson, show } from './fields.js';
import { CONFIG_LIMITS, readConfigJson } from './load.js';
import type { FgClipConfig, PreprocessConfig } from './types.js';

/** CLIPImageProcessor keyword defaults (image_processing_clip.py); `size`/`crop_size` default to 224 there. */
export const CLIP_IMAGE_PROCESSOR_DEFAULTS = {
  shortest_edge: 224, // size={"shortest_edge": 224}
  crop_size: 224, // crop_size={"height": 224, "width": 224}
  do_resize: true,
  do_center_crop: true,
  do_rescale: true,
  rescale_factor: 1 / 255, // rescale_factor=1/255
  do_normalize: true,
  image_mean: [0.48145466, 0.4578275, 0.40821073] as const, // OPENAI_CLIP_MEAN
  image_std: [0.26862954, 0.26130258, 0.27577711] as const, // OPENAI_CLIP_STD
  resample: 3, // PILImageResampling.BICUBIC
} as const;

/** Non-fatal findings (the config works but is unusual) go here; by default they become process warnings. */
export type WarningSink = (message: string) => void;
const emitWarning: WarningSink = (m) => process.emitWarning(m, 'FgClipWarning');

/**
 * Reads `<dir>/preprocessor_config.json`. When the file is absent, CLIPImageProcessor's defaults are used with
 * size and crop set to the vision tower's image_size (what the released checkpoints ship).
 */
export async function loadPreprocessConfig(dir: string, config: FgClipConfig, warn: WarningSink = emitWarning): Promise<PreprocessConfig> {
  const file = join(dir, 'preprocessor_config.json');
  if (!(await exists(file))) {
    const s = config.vision_config.image_size;
    return parsePreprocessConfig({ size: { shortest_edge: s }, crop_size: { height: s, width: s } }, `${file} (absent: defaults)`, config, warn);
  }
  return parsePreprocessConfig(await readConfigJson(file, 'preprocessor_config.json'), file, config, warn);
}

/**
 * `loadPreprocessConfig` through the file reading port (a family's `ctx.folder`: a folder on disk, or the browser's
 * file providers): absent → the defaults, present → parsed and validated.
 */
export async function preprocessConfigFrom(folder: ModelFolder, config: FgClipConfig, warn: WarningSink = emitWarning): Promise<PreprocessConfig> {
  const name = 'preprocessor_config.json';
  const file = folder.where(name);
  const text = await folder.readText(name, { what: name, code: 'CONFIG_INVALID', maxBytes: 16 << 20, hint: 'Point at a folder holding an FG-CLIP checkpoint' });
  if (text === undefined) {
    const s = config.vision_config.image_size;
    return parsePreprocessConfig({ size: { shortest_edge: s }, crop_size: { height: s, width: s } }, `${file} (absent: defaults)`, config, warn);
  }
  return parsePreprocessConfig(parseJson(text, file, 'CONFIG_INVALID'), file, config, warn);
}

/** Absent → defaults; anything present is read (a dangling symlink or special file is refused there). */
const exists = pathExists;

export function parsePreprocessConfig(json: unknown, source: string, config: FgClipConfig, warn: WarningSink = emitWarning): PreprocessConfig {
  if (!isObject(json)) {
    throw new FgClipError('CONFIG_INVALID', `${source}: expected a JSON object at top level (got ${show(json)})`);
  }
  const d = CLIP_IMAGE_PROCESSOR_DEFAULTS;
  const r = new FieldReader(json, source);
  const shortest_edge = readShortestEdge(r);
  const [crop_height, crop_width] = readCropSize(r);
  const resample = r.int('resample', d.resample, 0, 5);
  if (resample !== 3) {
    throw r.fail('resample', `must be 3 (PIL BICUBIC) (got ${resample})`, 'only the bicubic resampler of the reference is implemented');
  }
  const image_std = r.triple('image_std', d.image_std);
  if (image_std.some((s) => s <= 0)) throw r.fail('image_std', `must be > 0 per channel (got ${show(image_std)})`);
  const pre: PreprocessConfig = {
    shortest_edge,
    crop_height,
    crop_width,
    do_resize: r.bool('do_resize', d.do_resize),
    do_center_crop: r.bool('do_center_crop', d.do_center_crop),
    do_rescale: r.bool('do_rescale', d.do_rescale),
    rescale_factor: r.positive('rescale_factor', d.rescale_factor),
    do_normalize: r.bool('do_normalize', d.do_normalize),
    image_mean: r.triple('image_mean', d.image_mean),
    image_std,
    resample,
  };
  crossCheck(pre, r, config, warn);
  return pre;
}

/** Largest resize edge / crop side in pixels (the vision tower's image_size is bounded likewise). */
const MAX_EDGE = CONFIG_LIMITS.image_size;

/** `size`: `{shortest_edge}` or a bare number (legacy; get_size_dict(default_to_square=False) reads it the same). */
function readShortestEdge(r: FieldReader): number {
  const v = r.obj.size;
  if (v === undefined || v === null) return CLIP_IMAGE_PROCESSOR_DEFAULTS.shortest_edge;
  if (typeof v === 'number') return r.int('size', undefined, 1, MAX_EDGE);
  const size = r.object('size', true);
  if (!size.has('shortest_edge')) {
    throw r.fail('size', `must hold shortest_edge (got ${show(v)})`, 'exact {height, width} resizing is not what CLIPImageProcessor does for CLIP checkpoints');
  }
  return size.int('shortest_edge', undefined, 1, MAX_EDGE);
}

/** `crop_size`: `{height, width}` or a bare number (legacy, square). */
function readCropSize(r: FieldReader): [number, number] {
  const v = r.obj.crop_size;
  if (v === undefined || v === null) return [CLIP_IMAGE_PROCESSOR_DEFAULTS.crop_size, CLIP_IMAGE_PROCESSOR_DEFAULTS.crop_size];
  if (typeof v === 'number') {
    const n = r.int('crop_size', undefined, 1, MAX_EDGE);
    return [n, n];
  }
  const c = r.object('crop_size', true);
  return [c.int('height', undefined, 1, MAX_EDGE), c.int('width', undefined, 1, MAX_EDGE)];
}

/**
 * The vision position table has (image_size/patch_size)²+1 rows and the public API does not interpolate it
 * (spec §2.3 step 6), so a crop of any other size cannot be encoded: that is an error. Settings that still
 * produce image_size×image_size pixels only for some inputs are warnings.
 */
function crossCheck(p: PreprocessConfig, r: FieldReader, config: FgClipConfig, warn: WarningSink): void {
  const s = config.vision_config.image_size;
  if (p.do_center_crop && (p.crop_height !== s || p.crop_width !== s)) {
    throw r.fail(
      'crop_size',
      `must match vision_config.image_size (expected ${s}x${s}, got ${p.crop_height}x${p.crop_width})`,
      'the preprocessor and config.json belong to different checkpoints',
    );
  }
  if (!p.do_center_crop) {
    warn(`${r.source}: do_center_crop is false: only inputs already ${s}x${s} after resizing will fit the vision tower`);
  }
  if (!p.do_resize) warn(`${r.source}: do_resize is false: inputs must already be ${s}x${s}`);
  else if (p.shortest_edge < s && p.do_center_crop) {
    warn(`${r.source}: size.shortest_edge ${p.shortest_edge} is smaller than the ${s}px crop: the crop will pad`);
  } else if (p.shortest_edge !== s) {
    warn(`${r.source}: size.shortest_edge ${p.shortest_edge} differs from vision_config.image_size ${s}`);
  }
}
