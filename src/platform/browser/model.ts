/**
 * The model inside the Web Worker: files from a provider (sources.ts), graphs from an exported folder or built here
 * from the checkpoint with the project's platform-free graph builder (streamed into an OPFS graph cache laid out
 * like an export, so a second visit loads without rebuilding and without the network), sessions on
 * onnxruntime-web (wasm, or WebGPU when an adapter exists), and the same tokenizer, Pillow-exact resize,
 * RoIAlign and normalisation code as the Node library.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { parseJson } from '../../config/fields.js';
import { parseConfig } from '../../config/load.js';
import { parsePreprocessConfig } from '../../config/preprocessor.js';
import type { FgClipConfig, PreprocessConfig } from '../../config/types.js';
import { FgClipError } from '../../errors.js';
import { buildExportGraphs, exportManifest } from '../../export/build.js';
import { EXPORT_MANIFEST, parseManifest, POSITIONS_FILE, type ExportManifest, type FileSpec } from '../../export/manifest.js';
import type { WeightSink } from '../../graph/onnx-builder.js';
import type { InferenceRuntime, RuntimeSession } from '../ports.js';
import { isObject } from '../../config/fields.js';
import { pickFamily } from '../../families/registry.js';
import { FamilyWorkerModel } from './family-model.js';
import { checkImageRequest, decodeWire, type BrowserModel, type Ort } from './browser-model.js';
import { boxesToGrid } from '../../model/boxes.js';
import { encodeTextBatches } from '../../model/text-batches.js';
import { prepareTextBatch, type TextTables } from '../../families/fgclip/text-inputs.js';

/** FG-CLIP v1's two caption modes (the 77-row and 248-row position tables). */
type TextMode = 'short' | 'long';
import { roiAlign1x1 } from '../../postprocess/roi-align.js';
import { l2normalize } from '../../postprocess/similarity.js';
import { preprocessImage } from '../../preprocess/pipeline.js';
import type { RgbImage } from '../../preprocess/types.js';
import { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { blobWeightSource } from './blob-weights.js';
import { blobBytes, WeightMeter } from './external-data.js';
import { browserImageDecoder } from './decode.js';
import type {
  Device,
  ModelInfo,
  WebGpuAdapterInfo,
  WebGpuUnavailableReason,
  WireImage,
  WireImageResult,
  WireTextResult,
  WorkerLoadOptions,
} from './protocol.js';
import { providerFolder } from './folder.js';
import { webRuntime } from './runtime.js';
import type { FileProvider } from './sources.js';
import { assertRoom, HashingSink, isQuotaExceeded, QuotaExceeded, quotaError, Space, type ProgressFn } from './store.js';

/** Bump when graphs built from the same checkpoint change (the OPFS graph cache is keyed on it). */
const BROWSER_GRAPH_VERSION = 1;

async function text(p: FileProvider, file: string, expected?: FileSpec): Promise<string | undefined> {
  const b = await p.get(file, expected);
  return b ? b.text() : undefined;
}

/** the one JSON parse of untrusted text (src/config/fields.ts) */
const json = (t: string, file: string): unknown => parseJson(t, file, 'CONFIG_INVALID');

type GpuNavigator = Navigator & {
  gpu?: {
    requestAdapter(): Promise<{
      info?: Partial<Record<'vendor' | 'architecture' | 'description', string>> & { isFallbackAdapter?: boolean };
      isFallbackAdapter?: boolean;
    } | null>;
  };
};

/** What navigator.gpu offers in this worker: an adapter, or why there is none. */
async function probeWebGpu(): Promise<{ adapter?: WebGpuAdapterInfo; unavailable?: { reason: WebGpuUnavailableReason; message: string } }> {
  const gpu = (navigator as GpuNavigator).gpu;
  if (!gpu) {
    const why =
      self.isSecureContext === false ? 'the page is not a secure context (WebGPU needs https or localhost)' : 'this browser has no WebGPU, or it is turned off';
    return { unavailable: { reason: 'no-navigator-gpu', message: `WebGPU is unavailable: navigator.gpu is missing (${why})` } };
  }
  let a: Awaited<ReturnType<NonNullable<GpuNavigator['gpu']>['requestAdapter']>>;
  try {
    a = await gpu.requestAdapter();
  } catch (e) {
    return {
      unavailable: {
        reason: 'adapter-error',
        message: `WebGPU is unavailable: navigator.gpu.requestAdapter() failed (${e instanceof Error ? e.message : String(e)})`,
      },
    };
  }
  if (!a)
    return {
      unavailable: {
        reason: 'no-adapter',
        message:
          'WebGPU is unavailable: navigator.gpu.requestAdapter() gave no adapter (no usable GPU: none, blocklisted, or GPU access disabled, e.g. by --disable-gpu)',
      },
    };
  const i = a.info ?? {};
  return {
    adapter: {
      vendor: i.vendor ?? '',
      architecture: i.architecture ?? '',
      description: i.description ?? '',
      isFallbackAdapter: (a.isFallbackAdapter ?? i.isFallbackAdapter) === true,
    },
  };
}

/** Severity of onnxruntime's own log (session option and env), from the load option. */

export class WorkerModel implements BrowserModel {
  private constructor(
    readonly info: ModelInfo,
    private readonly config: Pick<FgClipConfig, never> & { eos: number; vocab: number; D: number; P: number; short: number; long: number },
    private readonly pre: { mean: readonly number[]; std: readonly number[]; rescaleFactor: number },
    private readonly tokenizer: ClipTokenizer,
    private readonly tables: TextTables,
    private readonly text: RuntimeSession,
    private readonly vision: RuntimeSession,
    private readonly opts: WorkerLoadOptions,
  ) {}

  static async load(p: FileProvider, opts: WorkerLoadOptions, progress: ProgressFn): Promise<BrowserModel> {
    const t0 = performance.now();
    const warnings: string[] = [];
    const probe = await probeWebGpu();
    const adapterName = (a: WebGpuAdapterInfo) => [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unnamed';
    let deviceFallback: ModelInfo['deviceFallback'];
    let device: Device = 'wasm';
    if (opts.device === 'webgpu') {
      if (!probe.adapter) {
        const u = probe.unavailable as { reason: WebGpuUnavailableReason; message: string };
        throw new FgClipError('WEBGPU_UNAVAILABLE', `device 'webgpu': ${u.message}. Use device 'auto' (falls back to WebAssembly) or 'wasm'.`, {
          details: { reason: u.reason },
        });
      }
      device = 'webgpu';
      if (probe.adapter.isFallbackAdapter)
        warnings.push(`WebGPU runs on a software fallback adapter (${adapterName(probe.adapter)}): results are correct, but it is slower than WebAssembly`);
    } else if (opts.device === 'auto') {
      if (!probe.adapter) deviceFallback = probe.unavailable;
      else if (probe.adapter.isFallbackAdapter)
        deviceFallback = {
          reason: 'software-adapter',
          message: `WebGPU's only adapter is a software fallback (${adapterName(probe.adapter)}), slower than WebAssembly: running on WebAssembly (ask for device 'webgpu' to use it anyway)`,
        };
      else device = 'webgpu';
    }
    const ort: Ort =
      device === 'webgpu' ? ((await import('onnxruntime-web/webgpu')) as unknown as Ort) : ((await import('onnxruntime-web/wasm')) as unknown as Ort);
    const isolated = self.crossOriginIsolated === true;
    const threads = isolated ? Math.max(1, Math.min(opts.threads ?? navigator.hardwareConcurrency ?? 1, 16)) : 1;
    if (!isolated)
      warnings.push('the page is not cross-origin isolated (COOP same-origin + COEP require-corp headers missing): onnxruntime-web runs on one thread');
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.wasmPaths = new URL('./', import.meta.url).href;
    ort.env.logLevel = opts.ortLogLevel ?? 'error';

    // 1. an exported folder, 2. an OPFS graph-cache entry built on an earlier visit, 3. build from the checkpoint
    const tmp: { space?: Space } = {};
    try {
      return await WorkerModel.open(p, opts, progress, { t0, warnings, probe, device, deviceFallback, ort, isolated, threads }, (s) => {
        tmp.space = s;
      });
    } catch (e) {
      // a quota refusal anywhere else (a small file, a folder): the same typed error
      if (e instanceof QuotaExceeded) throw await quotaError(e.file, e.needed, e.cause);
      if (!(e instanceof FgClipError) && isQuotaExceeded(e)) throw await quotaError('model cache', undefined, e);
      throw e;
    } finally {
      await tmp.space?.remove();
    }
  }

  private static async open(
    p: FileProvider,
    opts: WorkerLoadOptions,
    progress: ProgressFn,
    chosen: {
      t0: number;
      warnings: string[];
      probe: Awaited<ReturnType<typeof probeWebGpu>>;
      device: Device;
      deviceFallback: ModelInfo['deviceFallback'];
      ort: Ort;
      isolated: boolean;
      threads: number;
    },
    setTemp: (s: Space) => void,
  ): Promise<BrowserModel> {
    const { t0, warnings, probe, ort, isolated, threads } = chosen;
    let { device, deviceFallback } = chosen;
    let temp: Space | undefined;
    let manifestText = await text(p, EXPORT_MANIFEST);
    let folder: FileProvider = p;
    let graphs: ModelInfo['graphs'] = 'export';
    let config: FgClipConfig | undefined;
    let pre: PreprocessConfig | undefined;
    if (manifestText === undefined) {
      const cfgText = await text(p, 'config.json');
      if (cfgText === undefined)
        throw new FgClipError(
          'MODEL_NOT_FOUND',
          `${p.label}: neither ${EXPORT_MANIFEST} nor config.json found: not a model folder in the Hugging Face layout or an fgclip export`,
        );
      const cfgJson = json(cfgText, 'config.json');
      if (!isObject(cfgJson)) throw new FgClipError('CONFIG_INVALID', `config.json: expected a JSON object at top level`);
      // the registry's rule (src/families/registry.ts); families other than FG-CLIP v1 load through the family seam
      const family = pickFamily(cfgJson, 'config.json');
      if (family.id !== 'fgclip')
        return FamilyWorkerModel.load(p, family, cfgJson, opts, progress, {
          t0,
          warnings,
          device,
          deviceFallback,
          webgpuAdapter: probe.adapter,
          ort,
          isolated,
          threads,
        });
      config = parseConfig(cfgJson, 'config.json');
      const preText = await text(p, 'preprocessor_config.json');
      const S = config.vision_config.image_size;
      pre = parsePreprocessConfig(
        preText ? json(preText, 'preprocessor_config.json') : { size: { shortest_edge: S }, crop_size: { height: S, width: S } },
        'preprocessor_config.json',
        config,
        (m) => warnings.push(m),
      );
      const id = opts.cache ? await p.identity() : undefined;
      const key = id && bytesToHex(sha256(utf8ToBytes(JSON.stringify({ id, dtype: opts.dtype, v: BROWSER_GRAPH_VERSION })))).slice(0, 32);
      const space = key ? await Space.open(['graphs', key]) : undefined;
      const cached = space && (await space.get(EXPORT_MANIFEST));
      if (space && cached) {
        manifestText = await cached.text();
        folder = spaceProvider(space);
        graphs = 'graph-cache';
      } else {
        // no cache: build into a temporary OPFS space, deleted once the sessions exist (the built weights are then
        // read from disk one initializer at a time, never held whole in memory); in memory only without OPFS
        if (!space) {
          temp = await Space.openTemp().catch(() => undefined);
          if (temp) setTemp(temp);
          else
            warnings.push(
              'no Origin Private File System: the graphs are built in memory, so the weights are briefly held twice while the sessions are created',
            );
        }
        let built: Awaited<ReturnType<typeof buildInto>>;
        try {
          built = await buildInto(p, config, pre, opts, space ?? temp, progress);
        } catch (e) {
          if (!(temp && e instanceof FgClipError && e.code === 'STORAGE_QUOTA')) throw e;
          // cache: false asked for no storage: without room for the temporary files, build in memory instead
          await temp.remove();
          warnings.push(
            `not enough browser storage for the temporary graph files (${e.message.split(': not enough')[0]}): the graphs were built in memory, so the weights were briefly held twice while the sessions were created`,
          );
          built = await buildInto(p, config, pre, opts, undefined, progress);
        }
        manifestText = built.manifestText;
        folder = built.folder;
        graphs = 'built';
      }
    }
    const m = parseManifest(manifestText, `${p.label} ${EXPORT_MANIFEST}`);
    const expect = (f: string) => m.files[f];
    if (!config) {
      const cfgText = await text(folder, 'config.json', expect('config.json'));
      if (cfgText === undefined) throw new FgClipError('CONFIG_INVALID', `${p.label}: the export has no config.json`);
      config = parseConfig(json(cfgText, 'config.json'), 'config.json');
    }
    // the tokenizer as on Node: ClipTokenizer.fromFolder through the file reading port
    const tokenizer = await ClipTokenizer.fromFolder(providerFolder(graphs === 'export' ? p : folder, expect));
    const positionsBlob = await need(folder, m.positions.file, m);
    const positions = new Float32Array(await positionsBlob.arrayBuffer());
    const D = m.textHiddenSize;
    const tables: TextTables = { shortPositions: positions.subarray(0, m.text.shortLength * D), longPositions: positions.subarray(m.text.shortLength * D) };
    // one tower at a time, each initializer read from its file as onnxruntime-web copies it (external-data.ts)
    const meter = new WeightMeter();
    // the runtime port: onnxruntime-web with these execution providers (runtime.ts)
    const sessions = async (ep: string[]) => {
      const runtime = webRuntime(ort, ep);
      const text = await session(runtime, folder, m, 'text', progress, meter);
      try {
        return { text, vision: await session(runtime, folder, m, 'vision', progress, meter) };
      } catch (e) {
        await text.release().catch(() => undefined);
        throw e;
      }
    };
    let towers: { text: RuntimeSession; vision: RuntimeSession };
    try {
      towers = await sessions(device === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm']);
    } catch (e) {
      if (device !== 'webgpu') throw e;
      const why = e instanceof Error ? e.message : String(e);
      if (opts.device === 'webgpu')
        throw new FgClipError(
          'WEBGPU_UNAVAILABLE',
          `device 'webgpu': onnxruntime-web could not run the model on the WebGPU adapter (${why}). Use device 'auto' or 'wasm'.`,
          { cause: e, details: { reason: 'session-failed' } },
        );
      // 'auto' chose WebGPU because a hardware adapter exists, but it could not run the graphs: fall back, say so
      deviceFallback = { reason: 'session-failed', message: `WebGPU could not run the model (${why}): running on WebAssembly` };
      warnings.push(deviceFallback.message);
      device = 'wasm';
      towers = await sessions(['wasm']);
    }
    warnings.push(...(p.notes ?? []));
    if (device === 'webgpu' && m.dtype === 'int8')
      warnings.push(
        "int8 graphs on WebGPU: onnxruntime-web has no WebGPU kernel for com.microsoft DynamicQuantizeMatMul, so every int8 linear layer runs on the CPU (wasm) with copies between GPU and CPU; use dtype 'fp16' or 'fp32' with WebGPU",
      );
    const textSession = towers.text;
    const visionSession = towers.vision;
    const info: ModelInfo = {
      family: 'fgclip',
      device,
      deviceRequested: opts.device,
      ...(deviceFallback ? { deviceFallback } : {}),
      ...(probe.adapter ? { webgpuAdapter: probe.adapter } : {}),
      threads,
      crossOriginIsolated: isolated,
      webgpuAvailable: probe.adapter !== undefined,
      imageSize: m.imageSize,
      grid: m.grid,
      embeddingDim: m.projectionDim,
      logitScaleLog: m.logitScaleLog,
      scoreKind: 'softmax',
      perImageResolution: false,
      textLengths: { short: m.text.shortLength, long: m.text.longLength },
      graphs,
      loadMs: performance.now() - t0,
      memory: { weightFileBytes: meter.fileBytes, largestFileBytes: meter.largestFile, loaderPeakBytes: meter.peak, loaderReadBytes: meter.read },
      warnings,
    };
    const cfg = { eos: m.text.eosTokenId, vocab: m.text.vocabSize, D, P: m.projectionDim, short: m.text.shortLength, long: m.text.longLength };
    return new WorkerModel(info, cfg, m.preprocess, tokenizer, tables, textSession, visionSession, opts);
  }

  async encodeTexts(texts: readonly string[], mode: 'auto' | TextMode | 'box', normalize: boolean): Promise<WireTextResult> {
    if (mode === 'box') throw new FgClipError('INPUT_INVALID', 'text: this fgclip model has no box (region-text) path');
    const r = await encodeTextBatches(texts, {
      tokenizer: this.tokenizer,
      lengths: { short: this.config.short, long: this.config.long },
      mode,
      batchSize: Math.max(this.opts.batchSize, 16),
      normalize,
      family: 'fgclip',
      run: (ids, m) => this.runText(ids, m as TextMode), // 'box' never comes: no box length given
    });
    return { ...r, modes: r.modes as TextMode[] };
  }

  private async runText(ids: readonly (readonly number[])[], mode: TextMode): Promise<Float32Array[]> {
    const c = this.config;
    const cfg = {
      text_config: { hidden_size: c.D, max_position_embeddings: c.short, eos_token_id: c.eos, vocab_size: c.vocab },
      long_max_length: c.long,
    } as unknown as FgClipConfig;
    const b = prepareTextBatch(cfg, this.tables, ids, mode);
    const out = await this.text.run({
      input_ids: { type: 'int64', data: b.ids, dims: [b.B, b.T] },
      position_embeds: { type: 'float32', data: b.positions.slice(), dims: [b.T, c.D] },
      causal_mask: { type: 'float32', data: b.mask, dims: [b.T, b.T] },
      pool_index: { type: 'int64', data: b.poolIndex, dims: [b.B] },
    });
    const f = out[mode === 'short' ? 'text_embeds_short' : 'text_embeds_long'].data as Float32Array;
    return Array.from({ length: b.B }, (_, i) => f.slice(i * c.P, (i + 1) * c.P));
  }

  async decode(img: WireImage): Promise<RgbImage> {
    // through the image decoding port, as the Node handle decodes
    return decodeWire(img, browserImageDecoder(this.opts.decoder), this.opts.maxPixels);
  }

  async encodeImages(
    images: readonly WireImage[],
    normalize: boolean,
    dense: boolean,
    boxes?: readonly (readonly (readonly [number, number, number, number])[])[],
  ): Promise<WireImageResult[]> {
    checkImageRequest(images, boxes);
    const S = this.info.imageSize;
    const g = this.info.grid;
    const P = this.config.P;
    const N = g * g;
    const per = 3 * S * S;
    const results: WireImageResult[] = [];
    const f = (v: Float32Array) => (normalize ? l2normalize(v) : v);
    for (let s = 0; s < images.length; s += this.opts.batchSize) {
      const part = images.slice(s, s + this.opts.batchSize);
      const px = new Float32Array(per * part.length);
      const sizes: { width: number; height: number }[] = [];
      for (let i = 0; i < part.length; i++) {
        const rgb = await this.decode(part[i]);
        sizes.push({ width: rgb.width, height: rgb.height });
        px.set(
          preprocessImage(rgb, {
            size: S,
            mode: this.opts.preprocess ?? 'squash',
            mean: this.pre.mean,
            std: this.pre.std,
            rescaleFactor: this.pre.rescaleFactor,
          }),
          i * per,
        );
      }
      const grids = sizes.map((z, i) => (boxes ? boxesToGrid(boxes[s + i], z.width, z.height, g, `image ${s + i}`) : []));
      const out = await this.vision.run({ pixel_values: { type: 'float32', data: px, dims: [part.length, 3, S, S] } });
      const img = out.image_embeds.data as Float32Array;
      const den = out.dense_embeds.data as Float32Array;
      for (let i = 0; i < part.length; i++) {
        const d = den.subarray(i * N * P, (i + 1) * N * P);
        const r: WireImageResult = {
          embedding: f(img.slice(i * P, (i + 1) * P)),
          width: sizes[i].width,
          height: sizes[i].height,
          grid: [g, g],
          ...(dense ? { dense: Array.from({ length: N }, (_, n) => f(d.slice(n * P, (n + 1) * P))) } : {}),
          ...(boxes ? { regions: grids[i].length ? roiAlign1x1(d.slice(), g, g, P, grids[i]).map(f) : [] } : {}),
        };
        results.push(r);
      }
    }
    return results;
  }

  async dispose(): Promise<void> {
    await this.text.release().catch(() => undefined);
    await this.vision.release().catch(() => undefined);
  }
}

async function need(p: FileProvider, file: string, m: ExportManifest): Promise<Blob> {
  const b = await p.get(file, m.files[file]);
  if (!b) throw new FgClipError('MODEL_NOT_FOUND', `${p.label}: ${file} is missing`);
  if (m.files[file] && b.size !== m.files[file].size)
    throw new FgClipError('DOWNLOAD_CORRUPT', `${p.label}: ${file} has ${b.size} bytes, the manifest says ${m.files[file].size}`);
  return b;
}

async function session(
  runtime: InferenceRuntime,
  p: FileProvider,
  m: ExportManifest,
  tower: 'text' | 'vision',
  progress: ProgressFn,
  meter: WeightMeter,
): Promise<RuntimeSession> {
  const spec = m.graphs[tower];
  const model = new Uint8Array(await (await need(p, spec.model, m)).arrayBuffer());
  const wBlob = await need(p, spec.weights, m);
  progress({ file: spec.weights, phase: 'load', loaded: 0, total: wBlob.size });
  // the weights stay in their Blob: onnxruntime-web reads one initializer at a time from it (external-data.ts)
  const weights = blobBytes(wBlob, meter);
  meter.fileBytes += wBlob.size;
  meter.largestFile = Math.max(meter.largestFile, wBlob.size);
  try {
    return await runtime.open(tower, { model, weights }, {});
  } finally {
    weights.release();
    progress({ file: spec.weights, phase: 'load', loaded: wBlob.size, total: wBlob.size });
  }
}

/** An OPFS space read as a model folder. */
function spaceProvider(space: Space): FileProvider {
  return { label: 'graph cache', identity: async () => undefined, get: (f) => space.get(f) };
}

/** In-memory folder, for builds without the OPFS cache. */
function memoryProvider(files: Map<string, Blob>): FileProvider {
  return { label: 'built graphs', identity: async () => undefined, get: async (f) => files.get(f) };
}

class MemorySinkBlob implements WeightSink {
  private parts: BlobPart[] = [];
  private size = 0;
  write(bytes: Uint8Array): number {
    const at = Math.ceil(this.size / 64) * 64;
    if (at > this.size) this.parts.push(new Uint8Array(at - this.size));
    this.parts.push(bytes.slice());
    this.size = at + bytes.length;
    return at;
  }
  finish(): undefined {
    return undefined;
  }
  blob(): Blob {
    const b = new Blob(this.parts);
    this.parts = [];
    return b;
  }
}

/**
 * Builds the graphs from the checkpoint, tensor by tensor, into the OPFS graph-cache `space` (or into Blobs when
 * there is no cache), and returns the folder as an export (manifest last, so a half-written entry is never used).
 */
async function buildInto(
  p: FileProvider,
  config: FgClipConfig,
  pre: PreprocessConfig,
  opts: WorkerLoadOptions,
  space: Space | undefined,
  progress: ProgressFn,
): Promise<{ manifestText: string; folder: FileProvider }> {
  const shards: { name: string; blob: Blob }[] = [];
  const single = await p.get('model.safetensors');
  if (single) shards.push({ name: 'model.safetensors', blob: single });
  else {
    const idx = await text(p, 'model.safetensors.index.json');
    if (idx === undefined)
      throw new FgClipError(
        'WEIGHTS_MISSING',
        `${p.label}: no model.safetensors or model.safetensors.index.json (pytorch_model.bin is not read in the browser: export the model with \`fgclip export\`, or convert it to safetensors)`,
      );
    const map = (json(idx, 'model.safetensors.index.json') as { weight_map?: Record<string, string> }).weight_map;
    if (!map || typeof map !== 'object') throw new FgClipError('WEIGHTS_MALFORMED', 'model.safetensors.index.json: no weight_map');
    for (const f of [...new Set(Object.values(map))].sort()) {
      if (typeof f !== 'string' || f.includes('/') || f.includes('..'))
        throw new FgClipError('WEIGHTS_MALFORMED', `model.safetensors.index.json: bad shard name ${JSON.stringify(f)}`);
      const b = await p.get(f);
      if (!b) throw new FgClipError('WEIGHTS_MISSING', `${p.label}: shard ${f} is missing`);
      shards.push({ name: f, blob: b });
    }
  }
  progress({ file: 'graphs', phase: 'build', loaded: 0, total: 1 });
  const { source, unknown, elements } = await blobWeightSource(shards, config);
  void unknown;
  // at least this many bytes of weights (4, 2 or 1 per parameter; embeddings and norms stay float32, so more)
  const atLeast = elements * { fp32: 4, fp16: 2, int8: 1 }[opts.dtype];
  if (space) await assertRoom('graphs', atLeast);
  const files: Record<string, FileSpec> = {};
  const mem = new Map<string, Blob>();
  const put = async (name: string, bytes: Uint8Array) => {
    files[name] = { size: bytes.length, sha256: bytesToHex(sha256(bytes)) };
    if (space) await space.putBytes(name, bytes);
    else mem.set(name, new Blob([bytes.slice()]));
  };
  let built: ReturnType<typeof buildExportGraphs>;
  if (space) {
    const tw = await space.writer('text/weights.bin', true);
    const vw = await space.writer('vision/weights.bin', true);
    const sinks = { text: new HashingSink(tw), vision: new HashingSink(vw) };
    try {
      try {
        built = buildExportGraphs(config, source, opts.dtype, sinks);
      } catch (e) {
        tw.closeQuietly();
        vw.closeQuietly();
        throw e;
      }
      files['text/weights.bin'] = { size: tw.size(), sha256: sinks.text.digest() };
      files['vision/weights.bin'] = { size: vw.size(), sha256: sinks.vision.digest() };
      await space.commit('text/weights.bin', tw, { size: tw.size() }, files['text/weights.bin'].sha256);
      await space.commit('vision/weights.bin', vw, { size: vw.size() }, files['vision/weights.bin'].sha256);
    } catch (e) {
      if (!(e instanceof QuotaExceeded)) throw e;
      // the built weights are regenerated on the next load: free what they took
      tw.closeQuietly();
      vw.closeQuietly();
      await space.drop('text/weights.bin');
      await space.drop('vision/weights.bin');
      throw await quotaError(e.file, Math.max(e.needed ?? 0, atLeast - tw.size() - vw.size()), e.cause);
    }
  } else {
    const sinks = { text: new MemorySinkBlob(), vision: new MemorySinkBlob() };
    built = buildExportGraphs(config, source, opts.dtype, sinks);
    for (const t of ['text', 'vision'] as const) {
      const b = sinks[t].blob();
      mem.set(`${t}/weights.bin`, b);
      files[`${t}/weights.bin`] = { size: b.size, sha256: '0'.repeat(64) }; // not hashed: never stored
    }
  }
  await put('text/model.onnx', built.text.model);
  await put('vision/model.onnx', built.vision.model);
  await put(POSITIONS_FILE, new Uint8Array(built.positions.buffer, built.positions.byteOffset, built.positions.byteLength));
  for (const f of ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    const b = await p.get(f);
    if (b) await put(f, new Uint8Array(await b.arrayBuffer()));
  }
  const manifest = exportManifest(config, pre, built, { dtype: opts.dtype, source: { model: p.label }, files });
  const manifestText = JSON.stringify(manifest);
  if (space) await space.putBytes(EXPORT_MANIFEST, utf8ToBytes(manifestText));
  progress({ file: 'graphs', phase: 'build', loaded: 1, total: 1 });
  return { manifestText, folder: space ? spaceProvider(space) : memoryProvider(mem) };
}
