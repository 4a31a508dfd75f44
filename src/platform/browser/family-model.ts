/**
 * A model of any registered family (src/families/registry.ts) inside the Web Worker, loaded through the family seam
 * with the browser's ports: files through `providerFolder`, weights through `blobCheckpointFiles` (the checkpoint
 * reading port), onnxruntime-web (`webRuntime`), the browser image decoder, and with `cache` (the default) the OPFS
 * graph store (`opfsGraphStore`, graph-store.ts: a second load opens the stored graphs; `cache: false` builds them in
 * memory). Texts and images then go through the family's `FamilyModel` exactly as the Node handle
 * drives it (src/model/handle.ts): the same text batching, square preprocessing or the family's own per-image path
 * (FG-CLIP 2's NaFlex), RoIAlign and normalisation. FG-CLIP v1 keeps its own worker path (model.ts: exported graphs,
 * the OPFS graph cache).
 */
import type { JsonObject } from '../../config/fields.js';
import { FgClipError } from '../../errors.js';
import type { FamilyLoadContext, FamilyModel, ModelFamily, PreprocessMode, TextMode } from '../../families/types.js';
import { boxesToGrid } from '../../model/boxes.js';
import { decodedImageEncoding, imageEncoding } from '../../model/image-encoding.js';
import { encodeTextBatches } from '../../model/text-batches.js';
import { preprocessImage } from '../../preprocess/pipeline.js';
import type { RgbImage } from '../../preprocess/types.js';
import { blobCheckpointFiles } from './checkpoint-files.js';
import { browserImageDecoder } from './decode.js';
import { providerFolder } from './folder.js';
import { opfsGraphStore } from './graph-store.js';
import type { Device, ModelInfo, WireImage, WireImageResult, WireTextResult, WorkerLoadOptions } from './protocol.js';
import { webRuntime } from './runtime.js';
import type { FileProvider } from './sources.js';
import { isQuotaExceeded, QuotaExceeded, quotaError, type ProgressFn } from './store.js';
import { checkImageRequest, decodeWire, type BrowserModel, type Ort } from './browser-model.js';

/** What WorkerModel.load chose before the family loads (device, onnxruntime-web flavour, threads). */
export interface DeviceChoice {
  readonly t0: number;
  readonly warnings: string[];
  readonly device: Device;
  readonly deviceFallback: ModelInfo['deviceFallback'];
  readonly webgpuAdapter: ModelInfo['webgpuAdapter'];
  readonly ort: Ort;
  readonly isolated: boolean;
  readonly threads: number;
}

export class FamilyWorkerModel implements BrowserModel {
  /** a family may read weights after loading (FG-CLIP 2's token-table rows, through the checkpoint port) */
  readonly readsSourceLater = true;

  private constructor(
    readonly info: ModelInfo,
    private readonly family: ModelFamily,
    private readonly model: FamilyModel,
    private readonly opts: WorkerLoadOptions,
  ) {}

  static async load(
    p: FileProvider,
    family: ModelFamily,
    config: JsonObject,
    opts: WorkerLoadOptions,
    progress: ProgressFn,
    chosen: DeviceChoice,
  ): Promise<FamilyWorkerModel> {
    const { warnings } = chosen;
    let { device, deviceFallback } = chosen;
    const folder = providerFolder(p);
    // the OPFS graph cache when the load caches and the source has a content identity (as FG-CLIP v1's cache)
    const identity = opts.cache ? await p.identity() : undefined;
    const graphStore =
      identity !== undefined && typeof (navigator.storage as Partial<StorageManager> | undefined)?.getDirectory === 'function'
        ? opfsGraphStore(identity)
        : undefined;
    const ctx = (ep: string[]): FamilyLoadContext => ({
      dir: p.label,
      folder,
      checkpoint: blobCheckpointFiles(p),
      runtime: webRuntime(chosen.ort, ep),
      decoder: browserImageDecoder(opts.decoder),
      config,
      configPath: folder.where('config.json'),
      options: { dtype: opts.dtype, onWarning: (m) => warnings.push(m) },
      ...(graphStore ? { graphStore } : {}),
    });
    // a graph-cache write the browser refused for lack of quota: the typed STORAGE_QUOTA error, as FG-CLIP v1's cache
    const load = async (ep: string[]): Promise<FamilyModel> => {
      try {
        return await family.load(ctx(ep));
      } catch (e) {
        const q = e instanceof FgClipError && isQuotaExceeded(e.cause) ? e.cause : isQuotaExceeded(e) ? e : undefined;
        if (q === undefined) throw e;
        throw await quotaError(q instanceof QuotaExceeded ? q.file : 'graph cache', q instanceof QuotaExceeded ? q.needed : undefined, q);
      }
    };
    progress({ file: 'graphs', phase: 'build', loaded: 0, total: 1 });
    let model: FamilyModel;
    try {
      model = await load(device === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm']);
    } catch (e) {
      if (device !== 'webgpu' || !(e instanceof FgClipError) || e.code !== 'RUNTIME') throw e;
      if (opts.device === 'webgpu')
        throw new FgClipError(
          'WEBGPU_UNAVAILABLE',
          `device 'webgpu': onnxruntime-web could not run the model on the WebGPU adapter (${e.message}). Use device 'auto' or 'wasm'.`,
          {
            cause: e,
            details: { reason: 'session-failed' },
          },
        );
      deviceFallback = { reason: 'session-failed', message: `WebGPU could not run the model (${e.message}): running on WebAssembly` };
      warnings.push(deviceFallback.message);
      device = 'wasm';
      model = await load(['wasm']);
    }
    progress({ file: 'graphs', phase: 'build', loaded: 1, total: 1 });
    warnings.push(...(p.notes ?? []));
    const info: ModelInfo = {
      family: family.id,
      device,
      deviceRequested: opts.device,
      ...(deviceFallback ? { deviceFallback } : {}),
      ...(chosen.webgpuAdapter ? { webgpuAdapter: chosen.webgpuAdapter } : {}),
      threads: chosen.threads,
      crossOriginIsolated: chosen.isolated,
      webgpuAvailable: chosen.webgpuAdapter !== undefined,
      imageSize: model.imageSize,
      grid: model.grid[0],
      perImageResolution: model.encodeDecoded !== undefined,
      embeddingDim: model.embeddingDim,
      logitScaleLog: model.logitScaleLog,
      scoreKind: model.scoreKind ?? 'softmax',
      ...(model.logitBias !== undefined ? { logitBias: model.logitBias } : {}),
      textLengths: model.textLengths,
      graphs: model.fromGraphCache ? 'graph-cache' : 'built',
      loadMs: performance.now() - chosen.t0,
      warnings,
    };
    return new FamilyWorkerModel(info, family, model, opts);
  }

  private get preprocessMode(): PreprocessMode {
    return this.opts.preprocess ?? this.model.defaultPreprocess ?? 'squash';
  }

  async encodeTexts(texts: readonly string[], mode: 'auto' | TextMode, normalize: boolean): Promise<WireTextResult> {
    const m = this.model;
    return encodeTextBatches(texts, {
      tokenizer: m.tokenizer,
      lengths: m.textLengths,
      mode,
      batchSize: Math.max(this.opts.batchSize, 16),
      normalize,
      family: this.family.id,
      run: (ids, mode) => {
        // the Node handle's checks (src/model/handle.ts runText)
        if (mode === 'long' && m.textLengths.long === undefined)
          throw new FgClipError('INPUT_INVALID', `text: this ${this.family.id} model has no long-caption path (only short, ${m.textLengths.short} tokens)`);
        if (mode === 'box' && m.textLengths.box === undefined)
          throw new FgClipError('INPUT_INVALID', `text: this ${this.family.id} model has no box (region-text) path`);
        return m.runText(ids, mode, true);
      },
    });
  }

  async encodeImages(
    images: readonly WireImage[],
    normalize: boolean,
    dense: boolean,
    boxes?: readonly (readonly (readonly [number, number, number, number])[])[],
  ): Promise<WireImageResult[]> {
    checkImageRequest(images, boxes);
    const m = this.model;
    const bs = this.opts.batchSize;
    const decoder = browserImageDecoder(this.opts.decoder);
    const results: WireImageResult[] = [];
    for (let s = 0; s < images.length; s += bs) {
      const imgs: RgbImage[] = [];
      for (const x of images.slice(s, s + bs)) imgs.push(await decodeWire(x, decoder, this.opts.maxPixels));
      const partBoxes = boxes?.slice(s, s + bs);
      if (m.encodeDecoded) {
        // per-image resolution (FG-CLIP 2's NaFlex): the family preprocesses and encodes, as in the Node handle
        const out = await m.encodeDecoded(imgs, { dense, boxes: partBoxes });
        out.forEach((r, k) => results.push(decodedImageEncoding(imgs[k], r, { normalize, dense, boxes })));
        continue;
      }
      const S = m.imageSize;
      const per = 3 * S * S;
      const px = new Float32Array(per * imgs.length);
      const pc = m.preprocessConfig;
      imgs.forEach((rgb, i) =>
        px.set(preprocessImage(rgb, { size: S, mode: this.preprocessMode, mean: pc.image_mean, std: pc.image_std, rescaleFactor: pc.rescale_factor }), i * per),
      );
      const grids = imgs.map((z, i) => (partBoxes ? boxesToGrid(partBoxes[i], z.width, z.height, m.grid[0], `image ${s + i}`) : []));
      const raw = await m.runVision(px, imgs.length, { dense: dense || boxes !== undefined });
      imgs.forEach((z, i) =>
        results.push(
          imageEncoding(z, { image: raw.image[i], dense: raw.dense[i] }, m.grid, grids[i], { normalize, dense, ...(partBoxes ? { boxes: partBoxes } : {}) }),
        ),
      );
    }
    return results;
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}
