/**
 * Image files → collection records: global embedding and region vectors from ONE vision pass per image
 * (the raw dense map is pooled with RoIAlign, then everything is L2-normalized), plus the model facts a collection
 * stores to refuse other models.
 */
import { readFile, stat } from 'node:fs/promises';
import { FgClipError } from '../errors.js';
import type { Encoder } from '../model/encoder.js';
import { l2normalize } from '../postprocess/similarity.js';
import { decodeOrSkip, isSkipped, skipped, type SkippedImage } from '../tasks/images.js';
import { modelIdentity, preprocessFingerprint, sha256 } from '../cache/model-identity.js';
import type { CollectionModel, ImageRecord } from './collection.js';
import { regionVectors, schemeBoxes, toPixels, type RegionScheme, type UnitBox } from './regions.js';

/** The facts a collection stores about `model` (its identity is a hash of its files, memoized per handle). */
export async function describeModel(model: Encoder, name?: string): Promise<CollectionModel> {
  return {
    name: name ?? model.modelDir,
    identity: await modelIdentity(model),
    preprocess: await preprocessFingerprint(model),
    dim: model.embeddingDim,
    imageSize: model.imageSize,
    grid: model.gridSize,
  };
}

/** A file to embed: what the plan saw (its hash may be stale if the file changed since). */
export interface FileJob {
  readonly path: string;
  readonly sha256?: string;
  readonly bytes?: number;
  readonly mtime?: number;
}

export interface LoadedFile {
  readonly path: string;
  readonly data: Uint8Array;
  readonly sha256: string;
  readonly bytes: number;
  readonly mtime: number;
}

/** Reads a file and hashes what was read (the stored hash is always that of the embedded bytes). */
export async function loadFile(path: string): Promise<LoadedFile> {
  const [data, st] = await Promise.all([readFile(path), stat(path)]);
  return { path, data, sha256: sha256(data), bytes: data.length, mtime: st.mtimeMs };
}

/**
 * Embeds loaded files into records. The batch goes through `encodeImages` at once (decoding in worker threads);
 * if it fails because of one bad image, images are decoded one by one and the bad ones come back as skipped.
 */
export async function embedFiles(
  model: Encoder,
  files: readonly LoadedFile[],
  scheme: RegionScheme,
): Promise<{ records: ImageRecord[]; skipped: SkippedImage[] }> {
  if (files.length === 0) return { records: [], skipped: [] };
  const boxes = schemeBoxes(scheme, model.gridSize);
  const toRecord = (f: LoadedFile, e: RawEncoding) => recordOf(f, e, boxes, model.gridSize, model.embeddingDim);
  try {
    const enc = await model.encodeImages(
      files.map((f) => f.data),
      { normalize: false, dense: boxes.length > 0 },
    );
    return { records: files.map((f, i) => toRecord(f, enc[i])), skipped: [] };
  } catch (e) {
    if (!(e instanceof FgClipError) || (e.code !== 'IMAGE_DECODE' && e.code !== 'IMAGE_TOO_LARGE')) throw e;
  }
  const out = { records: [] as ImageRecord[], skipped: [] as SkippedImage[] };
  const good: { f: LoadedFile; img: Exclude<Awaited<ReturnType<typeof decodeOrSkip>>, SkippedImage> }[] = [];
  for (let i = 0; i < files.length; i++) {
    const d = await decodeOrSkip(model, files[i].data, i);
    if (isSkipped(d)) out.skipped.push({ ...d, image: files[i].path });
    else good.push({ f: files[i], img: d });
  }
  if (good.length > 0) {
    const enc = await model.encodeImages(
      good.map((g) => g.img),
      { normalize: false, dense: boxes.length > 0 },
    );
    good.forEach((g, i) => out.records.push(toRecord(g.f, enc[i])));
  }
  return out;
}

/** A model's raw (un-normalized) outputs for one image: global vector, size, and dense map when regions are stored. */
export interface RawEncoding {
  readonly embedding: Float32Array;
  readonly width: number;
  readonly height: number;
  readonly dense?: readonly Float32Array[];
  /** the dense map's own [gridH, gridW] when it is not the model's square grid (FG-CLIP 2 NaFlex) */
  readonly grid?: readonly [number, number];
}

/** One image's record: normalized global vector, and the region vectors of `boxes` pooled from the raw dense map. */
export function recordOf(f: Omit<LoadedFile, 'data'>, e: RawEncoding, boxes: readonly UnitBox[], grid: number, dim: number): ImageRecord {
  const vecs = regionVectors(e.dense ?? [], e.grid ?? grid, dim, boxes);
  return {
    sha256: f.sha256,
    path: f.path,
    width: e.width,
    height: e.height,
    bytes: f.bytes,
    mtime: f.mtime,
    vector: l2normalize(e.embedding),
    regions: vecs.map((v, k) => ({ box: toPixels(boxes[k], e.width, e.height), vector: v })),
  };
}

/** Loads files, skipping unreadable ones (with a reason). */
export async function loadFiles(paths: readonly string[]): Promise<{ files: LoadedFile[]; skipped: SkippedImage[] }> {
  const out = { files: [] as LoadedFile[], skipped: [] as SkippedImage[] };
  const loaded = await Promise.all(paths.map((p) => loadFile(p).catch((e: unknown) => e)));
  loaded.forEach((l, i) => {
    if (l instanceof Error || !(typeof l === 'object' && l && 'data' in l))
      out.skipped.push(skipped(paths[i], i, new FgClipError('IMAGE_DECODE', `${paths[i]}: cannot read the file (${(l as Error).message})`)));
    else out.files.push(l as LoadedFile);
  });
  return out;
}
