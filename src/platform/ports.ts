/**
 * The ports: what the platform-free layers need from a platform, as interfaces. The Node platform
 * (src/platform/node/) and the browser platform (src/platform/browser/) implement them; the layers that use them
 * (tokenizer, families, caches) take an implementation as an argument and never import a platform themselves.
 * See docs/architecture.md, "A new platform".
 */
import type { FgClipErrorCode } from '../errors.js';
import type { BuiltModel, WeightSink } from '../graph/onnx-builder.js';
import type { RgbImage } from '../preprocess/types.js';

/** How to read one file: what it is (for messages), the error code when it cannot be read, and a size bound. */
export interface ReadLimits {
  /** what the file is, for messages ("tokenizer.json", "config.json", "image") */
  readonly what: string;
  /** error code for a file that is there but is not a readable regular file, or is larger than `maxBytes` */
  readonly code: FgClipErrorCode;
  /** refuse files larger than this many bytes */
  readonly maxBytes?: number;
  /** appended to messages */
  readonly hint?: string;
}

/**
 * File reading port: the files of one model folder, read by name — a checkpoint folder on disk (Node:
 * `nodeFolder(dir)` in src/platform/node/folder.ts) or a Hub mirror, URL or OPFS folder (browser).
 */
export interface ModelFolder {
  /** the folder as messages name it (a path on Node, a repo id or URL in the browser) */
  readonly location: string;
  /** the file `name` of the folder as messages name it */
  where(name: string): string;
  /**
   * The text (UTF-8) of the file `name`; undefined when the folder has no such file. A file that is there but cannot
   * be read (a directory, a FIFO, a device, a dangling symlink, larger than `limits.maxBytes`) → FgClipError with
   * `limits.code`, naming the file.
   */
  readText(name: string, limits: ReadLimits): Promise<string | undefined>;
}

export type ExecutionProvider = 'cpu' | 'webgpu';

/** How a runtime runs a graph (every platform understands these; each decides its defaults). */
export interface RuntimeOptions {
  /** intra-op threads; default: all available cores */
  readonly threads?: number;
  /**
   * let the intra-op threads spin while waiting for work between operators (ONNX Runtime's default, true); false
   * frees the cores for other threads of the process between operators (what `fgclip serve` sets)
   */
  readonly spinning?: boolean;
  readonly executionProvider?: ExecutionProvider;
}

/**
 * A graph a runtime can open: built in memory (the ModelProto and its external weights), or stored by a graph
 * store (`file`: where the store keeps the ModelProto; its external weights are beside it).
 */
export type GraphSource = BuiltModel | { readonly file: string };

/** An input tensor, in the element types the graphs take. */
export type RuntimeTensor =
  | { readonly type: 'float32'; readonly data: Float32Array; readonly dims: readonly number[] }
  | { readonly type: 'int64'; readonly data: BigInt64Array; readonly dims: readonly number[] }
  | { readonly type: 'bool'; readonly data: readonly boolean[]; readonly dims: readonly number[] };

/** An output tensor; `data` is a typed array of the output's element type (float32 for every embedding). */
export interface RuntimeOutput {
  readonly data: unknown;
  readonly dims: readonly number[];
}

/** One opened graph. */
export interface RuntimeSession {
  /** runs the graph; a failure → FgClipError('RUNTIME') naming the session */
  run(feeds: Readonly<Record<string, RuntimeTensor>>): Promise<Record<string, RuntimeOutput>>;
  release(): Promise<void>;
}

/**
 * Runtime port: the ONNX Runtime flavour of a platform (Node: onnxruntime-node, `nodeRuntime` in
 * src/platform/node/runtime.ts; browser: onnxruntime-web). Families open their graphs through it.
 */
export interface InferenceRuntime {
  /** e.g. "onnxruntime-node", for messages */
  readonly name: string;
  /** opens a graph as session `name` (messages say it); a graph the runtime cannot load → FgClipError('RUNTIME') */
  open(name: string, graph: GraphSource, opts: RuntimeOptions): Promise<RuntimeSession>;
}

/** What a graph-store entry remembers next to the graphs (so a hit needs no checkpoint read). */
export interface GraphCacheMeta {
  readonly version: number;
  readonly logitScaleLog: number;
  readonly unknownTensors: readonly string[];
  /** float counts of the short and long position tables stored with the text graph */
  readonly tableSizes: readonly [number, number];
}

/** The graphs of one stored entry and what was stored with them. */
export interface StoredGraphs {
  readonly meta: GraphCacheMeta;
  /** the text position tables, short then long */
  readonly tables: Float32Array;
  readonly text: GraphSource;
  readonly vision: GraphSource;
}

/** A graph-store entry being written; nothing is visible under the entry's key before `commit`. */
export interface GraphStaging {
  /** where the initializers of graph `part` ('text', 'vision-<S>') stream to */
  sink(part: string): WeightSink;
  writeModel(part: string, model: BuiltModel): void;
  /** stores the tables and meta, then makes the entry visible at once; returns where to open the two graphs */
  commit(tables: readonly Float32Array[], meta: GraphCacheMeta): Promise<{ readonly text: GraphSource; readonly vision: GraphSource }>;
  /** after the sessions are open: drops what is not the committed entry */
  release(): void;
  /** gives the entry up (a failed build) */
  abort(): void;
}

/** The store's entry for one model at one (linear dtype, resolution). */
export interface GraphStoreEntry {
  /** where the entry lives, for messages */
  readonly location: string;
  /**
   * The stored graphs when the entry is there and checks out; a damaged entry is reported through `warn` (default:
   * the platform's warning channel), removed, and reads as undefined.
   */
  read(warn?: (message: string) => void): Promise<StoredGraphs | undefined>;
  /**
   * starts writing the entry; undefined when the storage cannot be written (the caller builds in memory). Async: a
   * browser store opens its OPFS files here, so that `sink` can hand out synchronous writers.
   */
  stage(): Promise<GraphStaging | undefined>;
}

/**
 * Graph cache storage port: built graphs kept between loads, keyed by the model's content identity (Node: a folder
 * under the fgclip cache, `nodeGraphStore` in src/platform/node/graph-store.ts; browser: OPFS).
 */
export interface GraphStore {
  entry(parts: { readonly dtype: string; readonly imageSize: number }): Promise<GraphStoreEntry>;
}

export interface ImageDecodeOptions {
  /** apply the EXIF orientation tag (default false, as Pillow's `Image.open`) */
  readonly autoOrient?: boolean;
  /** refuse images with width·height above this, from the header, before decoding */
  readonly maxPixels?: number;
}

/**
 * Image decoding port: encoded bytes (PNG, JPEG, …) → 8-bit RGB pixels, as Pillow's `Image.open(...).convert('RGB')`
 * gives them; undecodable, oversized or empty input → FgClipError('IMAGE_DECODE' / 'IMAGE_TOO_LARGE' /
 * 'INPUT_INVALID'). Node: `nodeImageDecoder` (sharp/libvips, src/platform/node/image-decoder.ts); browser:
 * `decodeImageBytes` (src/platform/browser/decode.ts, @jsquash codecs). Injected like the runtime
 * (`FgClip.load(dir, { decoder })`); `decodeInput` (src/preprocess/decode-input.ts) applies it to any image input.
 */
export interface ImageDecoder {
  decode(bytes: Uint8Array, opts?: ImageDecodeOptions): Promise<RgbImage>;
  /**
   * A file by path (platforms with a file system): read with the platform's checks (special files refused, size
   * bounded), then decoded as `decode`; errors name the path. Without it, a path input is refused (INPUT_INVALID).
   */
  decodeFile?(path: string, opts?: ImageDecodeOptions): Promise<RgbImage>;
  /**
   * The same decoder for a worker thread: the URL of a module and the name of its export that holds it. With it, a
   * preprocessing pool (src/pipeline) decodes inside its workers; without it, images are decoded on the calling
   * thread and only resized in the workers.
   */
  readonly worker?: { readonly module: string; readonly exportName: string };
}
