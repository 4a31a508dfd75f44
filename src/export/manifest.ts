/**
 * The manifest of an exported model folder (`fgclip export`, and the browser's own OPFS graph cache, which uses the
 * same layout). Platform-free: the Node exporter writes it, the browser runtime and onnxruntime users read it.
 *
 *   fgclip-export.json         this manifest
 *   vision/model.onnx          pixel_values [B,3,S,S] → image_embeds [B,P], dense_embeds [B,N,P]
 *   vision/weights.bin         its external initializers (ONNX external data, 64-byte aligned)
 *   text/model.onnx            input_ids, position_embeds, causal_mask, pool_index → text_embeds_short/_long
 *   text/weights.bin
 *   text-positions.bin         float32 LE: the short position table [77, D] then the long one [248, D]
 *   config.json, preprocessor_config.json, tokenizer files   copied from the checkpoint
 */
import { FgClipError } from '../errors.js';

export const EXPORT_MANIFEST = 'fgclip-export.json';
export const EXPORT_FORMAT = 'fgclip-onnx';
export const EXPORT_VERSION = 1;
export const POSITIONS_FILE = 'text-positions.bin';

export type ExportDtype = 'fp32' | 'fp16' | 'int8';

export interface TensorSpec {
  readonly name: string;
  readonly type: 'float32' | 'int64';
  /** numbers are fixed, strings are symbolic (B batch, T tokens) */
  readonly shape: readonly (number | string)[];
  readonly doc: string;
}

export interface GraphSpec {
  readonly model: string;
  readonly weights: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export interface FileSpec {
  readonly size: number;
  readonly sha256: string;
}

export interface ExportManifest {
  readonly format: typeof EXPORT_FORMAT;
  readonly version: number;
  readonly family: 'fgclip';
  /** what was exported (a folder path or Hub id, and the revision when known) */
  readonly source: { readonly model: string; readonly revision?: string };
  readonly dtype: ExportDtype;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly grid: number;
  readonly projectionDim: number;
  readonly textHiddenSize: number;
  /** the stored log-scale; probabilities are softmax(exp(logitScaleLog) · cos) */
  readonly logitScaleLog: number;
  readonly text: {
    readonly shortLength: number;
    readonly longLength: number;
    readonly eosTokenId: number;
    readonly vocabSize: number;
  };
  readonly preprocess: {
    readonly mode: 'squash';
    readonly mean: readonly number[];
    readonly std: readonly number[];
    readonly rescaleFactor: number;
    readonly resample: 'PIL bicubic';
  };
  readonly positions: { readonly file: string; readonly short: readonly [number, number]; readonly long: readonly [number, number]; readonly dtype: 'float32' };
  readonly graphs: { readonly vision: GraphSpec; readonly text: GraphSpec };
  /** every file of the folder but the manifest, with its size and sha256 (hex) */
  readonly files: Readonly<Record<string, FileSpec>>;
}

export function visionSpec(S: number, grid: number, P: number): GraphSpec {
  return {
    model: 'vision/model.onnx',
    weights: 'vision/weights.bin',
    inputs: [{ name: 'pixel_values', type: 'float32', shape: ['B', 3, S, S], doc: 'normalized RGB, CHW (CLIPImageProcessor output)' }],
    outputs: [
      { name: 'image_embeds', type: 'float32', shape: ['B', P], doc: 'get_image_features (raw, not normalized)' },
      { name: 'dense_embeds', type: 'float32', shape: ['B', grid * grid, P], doc: 'get_image_dense_features, row-major patches' },
    ],
  };
}

export function textSpec(D: number, P: number): GraphSpec {
  return {
    model: 'text/model.onnx',
    weights: 'text/weights.bin',
    inputs: [
      {
        name: 'input_ids',
        type: 'int64',
        shape: ['B', 'T'],
        doc: 'token ids; T ≤ 77 (short) or ≤ 248 (long), may be cut after the last end token of the batch',
      },
      { name: 'position_embeds', type: 'float32', shape: ['T', D], doc: `rows 0..T-1 of the mode's table in ${POSITIONS_FILE}` },
      { name: 'causal_mask', type: 'float32', shape: ['T', 'T'], doc: 'additive: 0 on and below the diagonal, -3.4028234663852886e38 above' },
      { name: 'pool_index', type: 'int64', shape: ['B'], doc: 'b*T + position of the first end token of row b (0 when none)' },
    ],
    outputs: [
      { name: 'text_embeds_short', type: 'float32', shape: ['B', P], doc: 'get_text_features(walk_short_pos=True): use with the short table' },
      { name: 'text_embeds_long', type: 'float32', shape: ['B', P], doc: 'get_text_features(walk_short_pos=False): use with the long table' },
    ],
  };
}

/** Largest manifest accepted (it is small: a few kB). */
const MAX_MANIFEST_BYTES = 1 << 20;

function bad(source: string, what: string): never {
  throw new FgClipError('CONFIG_INVALID', `${source}: ${what}`);
}

function posInt(v: unknown, source: string, field: string, max = 1 << 20): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > max)
    bad(source, `${field}: expected a positive integer ≤ ${max} (got ${JSON.stringify(v)})`);
  return v;
}

/** Checks a manifest read from an untrusted folder: the fields the runtime relies on, with bounds. */
export function parseManifest(text: string, source = EXPORT_MANIFEST): ExportManifest {
  if (text.length > MAX_MANIFEST_BYTES) bad(source, `${text.length} bytes (expected at most ${MAX_MANIFEST_BYTES})`);
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    bad(source, `not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) bad(source, 'expected a JSON object');
  const o = m as Record<string, unknown> & Partial<ExportManifest>;
  if (o.format !== EXPORT_FORMAT) bad(source, `format: expected ${JSON.stringify(EXPORT_FORMAT)} (got ${JSON.stringify(o.format)})`);
  if (o.version !== EXPORT_VERSION) bad(source, `version: expected ${EXPORT_VERSION} (got ${JSON.stringify(o.version)}); re-export with this fgclip version`);
  if (o.dtype !== 'fp32' && o.dtype !== 'fp16' && o.dtype !== 'int8') bad(source, `dtype: expected fp32, fp16 or int8 (got ${JSON.stringify(o.dtype)})`);
  const S = posInt(o.imageSize, source, 'imageSize', 4096);
  const p = posInt(o.patchSize, source, 'patchSize', 4096);
  const grid = posInt(o.grid, source, 'grid', 4096);
  if (grid * p !== S) bad(source, `grid ${grid} × patchSize ${p} ≠ imageSize ${S}`);
  const P = posInt(o.projectionDim, source, 'projectionDim', 65536);
  const D = posInt(o.textHiddenSize, source, 'textHiddenSize', 65536);
  if (typeof o.logitScaleLog !== 'number' || !Number.isFinite(o.logitScaleLog)) bad(source, 'logitScaleLog: expected a finite number');
  const t = o.text as ExportManifest['text'] | undefined;
  if (!t) bad(source, 'text: missing');
  posInt(t.shortLength, source, 'text.shortLength', 4096);
  posInt(t.longLength, source, 'text.longLength', 4096);
  posInt(t.vocabSize, source, 'text.vocabSize', 1 << 24);
  if (!Number.isInteger(t.eosTokenId) || t.eosTokenId < 0 || t.eosTokenId >= t.vocabSize)
    bad(source, `text.eosTokenId: expected an id below vocabSize (got ${JSON.stringify(t.eosTokenId)})`);
  const pos = o.positions;
  if (!pos || pos.short?.[0] !== t.shortLength || pos.short?.[1] !== D || pos.long?.[0] !== t.longLength || pos.long?.[1] !== D) {
    bad(source, `positions: expected tables [${t.shortLength}, ${D}] and [${t.longLength}, ${D}]`);
  }
  const pre = o.preprocess;
  if (!pre || !isTriple(pre.mean) || !isTriple(pre.std) || pre.std.some((v) => v === 0) || typeof pre.rescaleFactor !== 'number')
    bad(source, 'preprocess: expected mean and std of 3 finite numbers (std non-zero) and a rescaleFactor');
  const files = o.files;
  if (!files || typeof files !== 'object') bad(source, 'files: missing');
  for (const [name, f] of Object.entries(files)) {
    if (!safeRelative(name)) bad(source, `files: ${JSON.stringify(name)} is not a plain relative path`);
    if (!f || !Number.isSafeInteger(f.size) || f.size < 0 || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256))
      bad(source, `files[${name}]: expected { size, sha256 }`);
  }
  const g = o.graphs;
  if (!g?.vision || !g.text) bad(source, 'graphs: expected vision and text');
  for (const f of [g.vision.model, g.vision.weights, g.text.model, g.text.weights, pos.file]) {
    if (typeof f !== 'string' || !(f in files)) bad(source, `graphs: ${JSON.stringify(f)} is not listed in files`);
  }
  if (files[pos.file].size !== 4 * D * (t.shortLength + t.longLength))
    bad(source, `${pos.file}: ${files[pos.file].size} bytes, expected ${4 * D * (t.shortLength + t.longLength)}`);
  void P;
  return o as ExportManifest;
}

function isTriple(v: unknown): v is number[] {
  return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

/** `a/b.c` style: no absolute paths, no `..`, no empty parts, no backslashes or URL syntax. */
function safeRelative(name: string): boolean {
  if (name.length === 0 || name.length > 200 || /[\\:?#%]/.test(name) || name.startsWith('/')) return false;
  return name.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}
