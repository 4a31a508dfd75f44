/**
 * A worker-thread pool for image decoding + preprocessing, so a caller can keep ONNX Runtime busy while the next
 * images are decoded and resized. Each worker runs the same code as the in-thread path (the image decoding port's
 * decoder through `decodeInput`, then `preprocessImage`, see worker.ts), so results are bit-identical to it. The
 * decoder is injected (`decoder`, default Node's sharp-based `nodeImageDecoder`); the workers import it from the
 * module its `worker` field names.
 *
 * - `map(inputs)` yields results in input order as an async iterator, pulling inputs lazily: at most `maxInFlight`
 *   items are submitted and not yet consumed (back-pressure), so a folder of 100k files never floods memory.
 * - Errors are per item: an unreadable image yields `{ ok: false, error }` for that index; the pool keeps going.
 *   A worker thread that dies is replaced; only its in-flight items fail.
 * - Float32 pixel buffers come back transferred (no copy); input bytes are copied once and transferred.
 * - Workers are unref'd while idle, so a forgotten pool does not keep the process alive; `close()` terminates them.
 *
 * The worker entry is resolved next to this module: worker.js when loaded from dist/, worker.ts when loaded as
 * TypeScript (tsx), in which case a bootstrap registers tsx's hooks inside the worker first (see `startWorker`).
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { FgClipError, isFgClipError } from '../errors.js';
import { toPixelValues, type DecodeOptions, type PreprocessOptions } from '../preprocess/index.js';
import { nodeImageDecoder } from '../platform/node/image-decoder.js';
import type { ImageDecoder } from '../platform/ports.js';
import { startModuleWorker } from './start-worker.js';
import { isRgbInput } from '../preprocess/decode-input.js';
import type { PoolInput, TaskMessage, WorkerConfig, WorkerMessage } from './protocol.js';

export type { PoolInput } from './protocol.js';

/** Items handed to one worker at a time: 2 lets one item's decode (libvips threads) overlap another's resize (JS). */
const TASKS_PER_WORKER = 2;

export interface PreprocessPoolOptions extends PreprocessOptions, DecodeOptions {
  /** worker threads (default: availableParallelism()) */
  readonly threads?: number;
  /** per `map` call, items pulled from the input but not yet consumed, at most (default 2 × threads) */
  readonly maxInFlight?: number;
  /**
   * the image decoding port's implementation the workers decode with (default `nodeImageDecoder`, sharp); it must
   * name its module (`worker`), which each worker imports
   */
  readonly decoder?: ImageDecoder;
  /**
   * lower the workers' scheduling priority to this nice value (Linux; thread-priority.ts), so that the thread
   * serving requests wins the CPU over decoding (default: unchanged)
   */
  readonly nice?: number;
}

export interface PreprocessedImage {
  /** [3, S, S] float32 CHW */
  readonly pixels: Float32Array;
  /** original image size, pixels */
  readonly width: number;
  readonly height: number;
}

export type PoolResult =
  | (PreprocessedImage & { readonly index: number; readonly ok: true })
  | { readonly index: number; readonly ok: false; readonly error: FgClipError };

export interface PreprocessPool {
  readonly threads: number;
  readonly maxInFlight: number;
  /** worker threads currently alive (0 after `close()`) */
  readonly liveWorkers: number;
  /** one item; rejects with its FgClipError */
  run(input: PoolInput): Promise<PreprocessedImage>;
  /** results in input order; per-item errors are yielded, not thrown */
  map(inputs: Iterable<PoolInput> | AsyncIterable<PoolInput>): AsyncGenerator<PoolResult, void, undefined>;
  /** rejects pending items with DISPOSED and terminates the workers; idempotent */
  close(): Promise<void>;
}

interface Task {
  readonly id: number;
  readonly message: TaskMessage;
  readonly transfer: ArrayBuffer[];
  readonly resolve: (r: PreprocessedImage) => void;
  readonly reject: (e: FgClipError) => void;
}

interface Slot {
  readonly worker: Worker;
  readonly inFlight: Map<number, Task>;
  ready: boolean;
  exited: boolean;
}

/** Starts the workers and resolves once each has loaded its modules (a startup failure rejects with RUNTIME). */
export async function createPreprocessPool(options: PreprocessPoolOptions): Promise<PreprocessPool> {
  const pool = new Pool(checkOptions(options));
  try {
    await pool.started;
  } catch (e) {
    await pool.close();
    throw e;
  }
  return pool;
}

interface CheckedOptions {
  readonly threads: number;
  readonly maxInFlight: number;
  readonly config: WorkerConfig;
}

function bad(what: string, expected: string, got: unknown): FgClipError {
  return new FgClipError('INPUT_INVALID', `createPreprocessPool: bad ${what} (expected ${expected}, got ${JSON.stringify(got)}).`);
}

function checkOptions(o: PreprocessPoolOptions): CheckedOptions {
  if (typeof o !== 'object' || o === null) throw bad('options', 'an object with size, mean and std', o);
  const threads = o.threads ?? Math.max(1, availableParallelism());
  if (!Number.isInteger(threads) || threads < 1) throw bad('threads', 'a positive integer', o.threads);
  const maxInFlight = o.maxInFlight ?? 2 * threads;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw bad('maxInFlight', 'a positive integer', o.maxInFlight);
  if (!Number.isInteger(o.size) || o.size < 1) throw bad('size', 'a positive integer (224 base, 336 large)', o.size);
  if (o.mode !== undefined && o.mode !== 'squash' && o.mode !== 'crop') throw bad('mode', "'squash' or 'crop'", o.mode);
  if (o.autoOrient !== undefined && typeof o.autoOrient !== 'boolean') throw bad('autoOrient', 'a boolean', o.autoOrient);
  if (o.maxPixels !== undefined && !(o.maxPixels === Infinity || (Number.isSafeInteger(o.maxPixels) && o.maxPixels > 0))) {
    throw bad('maxPixels', 'a positive integer or Infinity', o.maxPixels);
  }
  const decoder = o.decoder ?? nodeImageDecoder;
  if (typeof decoder !== 'object' || decoder === null || typeof decoder.worker?.module !== 'string' || typeof decoder.worker.exportName !== 'string') {
    throw bad(
      'decoder',
      'an ImageDecoder whose `worker` names the module a worker thread imports it from',
      o.decoder === undefined ? undefined : '<a decoder without worker>',
    );
  }
  // mean/std/rescaleFactor: the library's own checks, on a 1×1 image, here rather than once per item in a worker
  const norm = { mean: o.mean, std: o.std, rescaleFactor: o.rescaleFactor };
  toPixelValues({ width: 1, height: 1, data: new Uint8Array(3) }, norm);
  return {
    threads,
    maxInFlight,
    config: {
      preprocess: { size: o.size, mode: o.mode ?? 'squash', mean: [...o.mean], std: [...o.std], rescaleFactor: o.rescaleFactor },
      decode: { autoOrient: o.autoOrient, maxPixels: o.maxPixels },
      decoder: { module: decoder.worker.module, exportName: decoder.worker.exportName },
      ...(o.nice !== undefined ? { nice: o.nice } : {}),
    },
  };
}

class Pool implements PreprocessPool {
  readonly threads: number;
  readonly maxInFlight: number;
  readonly started: Promise<void>;
  private readonly config: WorkerConfig;
  private readonly queue: Task[] = [];
  private slots: Slot[] = [];
  private nextId = 0;
  private closed = false;
  /** set when a worker fails before it is ready: the pool cannot work (e.g. no TypeScript loader) */
  private broken: FgClipError | undefined;
  private readyWaiters: { resolve: () => void; reject: (e: FgClipError) => void } | undefined;

  constructor(o: CheckedOptions) {
    this.threads = o.threads;
    this.maxInFlight = o.maxInFlight;
    this.config = o.config;
    this.started = new Promise((resolve, reject) => (this.readyWaiters = { resolve, reject }));
    for (let i = 0; i < this.threads; i++) this.spawn();
  }

  get liveWorkers(): number {
    return this.slots.filter((s) => !s.exited).length;
  }

  run(input: PoolInput): Promise<PreprocessedImage> {
    if (this.closed) return Promise.reject(disposed());
    if (this.broken) return Promise.reject(this.broken);
    let message: TaskMessage;
    let transfer: ArrayBuffer[];
    const id = this.nextId++;
    try {
      ({ message, transfer } = taskMessage(id, input));
    } catch (e) {
      return Promise.reject(asFgClipError(e));
    }
    return new Promise<PreprocessedImage>((resolve, reject) => {
      this.queue.push({ id, message, transfer, resolve, reject });
      this.pump();
    });
  }

  async *map(inputs: Iterable<PoolInput> | AsyncIterable<PoolInput>): AsyncGenerator<PoolResult, void, undefined> {
    const src = iteratorOf(inputs);
    const window: Promise<PoolResult>[] = [];
    let index = 0;
    let exhausted = false;
    try {
      for (;;) {
        if (this.closed) throw disposed();
        while (!exhausted && window.length < this.maxInFlight) {
          const n = await src.next();
          if (n.done) {
            exhausted = true;
            break;
          }
          const i = index++;
          window.push(
            this.run(n.value).then(
              (r): PoolResult => ({ index: i, ok: true, pixels: r.pixels, width: r.width, height: r.height }),
              (e: unknown): PoolResult => ({ index: i, ok: false, error: asFgClipError(e) }),
            ),
          );
        }
        const head = window.shift();
        if (head === undefined) return;
        yield await head;
      }
    } finally {
      if (!exhausted) await src.return?.();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.readyWaiters?.reject(disposed());
    for (const t of this.queue.splice(0)) t.reject(disposed());
    const slots = this.slots;
    this.slots = [];
    for (const s of slots) for (const t of s.inFlight.values()) t.reject(disposed());
    await Promise.all(
      slots.map(async (s) => {
        await s.worker.terminate();
        s.exited = true;
      }),
    );
  }

  private spawn(): void {
    const worker = startWorker(this.config);
    // Referenced until it reports ready (an `await createPreprocessPool` must keep the process alive), then only
    // while it has work.
    const slot: Slot = { worker, inFlight: new Map(), ready: false, exited: false };
    worker.on('message', (m: WorkerMessage) => this.onMessage(slot, m));
    worker.on('error', (e: Error) => this.onFailure(slot, e.message));
    worker.on('exit', (code: number) => {
      if (!slot.exited && !this.closed) this.onFailure(slot, `exited with code ${code}`);
      slot.exited = true;
    });
    this.slots.push(slot);
  }

  private onMessage(slot: Slot, m: WorkerMessage): void {
    if (m.type === 'ready') {
      slot.ready = true;
      if (slot.inFlight.size === 0) slot.worker.unref();
      if (this.slots.every((s) => s.ready)) this.readyWaiters?.resolve();
      return;
    }
    const task = slot.inFlight.get(m.id);
    if (!task) return; // already rejected by close()
    slot.inFlight.delete(m.id);
    if (slot.inFlight.size === 0 && slot.ready) slot.worker.unref();
    if (m.ok) task.resolve({ pixels: m.pixels, width: m.width, height: m.height });
    else task.reject(new FgClipError(m.code, m.message));
    this.pump();
  }

  private onFailure(slot: Slot, what: string): void {
    if (slot.exited || this.closed) return;
    slot.exited = true;
    this.slots = this.slots.filter((s) => s !== slot);
    void slot.worker.terminate();
    for (const t of slot.inFlight.values()) {
      t.reject(new FgClipError('RUNTIME', `preprocess pool: the worker thread processing this item failed (${what}). Other items are not affected.`));
    }
    if (!slot.ready) {
      // A worker that never loaded will not load on a retry either.
      this.broken = new FgClipError(
        'RUNTIME',
        `createPreprocessPool: a worker thread failed to start (${what}). From dist/, build first (npm run build); from TypeScript sources, the tsx package must be installed.`,
      );
      this.readyWaiters?.reject(this.broken);
      for (const t of this.queue.splice(0)) t.reject(this.broken);
      return;
    }
    this.spawn();
    this.pump();
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let best: Slot | undefined;
      for (const s of this.slots) if (!s.exited && s.inFlight.size < TASKS_PER_WORKER && (!best || s.inFlight.size < best.inFlight.size)) best = s;
      if (!best) return;
      const task = this.queue.shift()!;
      if (best.inFlight.size === 0 && best.ready) best.worker.ref();
      best.inFlight.set(task.id, task);
      best.worker.postMessage(task.message, task.transfer);
    }
  }
}

/** Copies caller-owned bytes once into buffers we can transfer (a view's whole backing buffer would be cloned). */
function taskMessage(id: number, input: PoolInput): { message: TaskMessage; transfer: ArrayBuffer[] } {
  if (typeof input === 'string') return { message: { id, input }, transfer: [] };
  if (input instanceof Uint8Array) {
    const bytes = new Uint8Array(input);
    return { message: { id, input: bytes }, transfer: [bytes.buffer] };
  }
  if (isRgbInput(input) && input.data instanceof Uint8Array) {
    const data = new Uint8Array(input.data);
    return { message: { id, input: { width: input.width, height: input.height, data } }, transfer: [data.buffer] };
  }
  const got = input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input;
  throw new FgClipError('INPUT_INVALID', `preprocess pool: bad item (expected a file path, encoded image bytes as a Uint8Array, or an RgbImage, got ${got}).`);
}

function iteratorOf(inputs: Iterable<PoolInput> | AsyncIterable<PoolInput>): AsyncIterator<PoolInput> | Iterator<PoolInput> {
  if (inputs !== null && typeof inputs === 'object') {
    if (Symbol.asyncIterator in inputs) return inputs[Symbol.asyncIterator]();
    if (Symbol.iterator in inputs) return inputs[Symbol.iterator]();
  }
  throw new FgClipError(
    'INPUT_INVALID',
    `preprocess pool map: bad inputs (expected an iterable or async iterable of images, got ${inputs === null ? 'null' : typeof inputs}).`,
  );
}

function asFgClipError(e: unknown): FgClipError {
  if (isFgClipError(e)) return e;
  return new FgClipError('RUNTIME', `preprocess pool: unexpected ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
}

function disposed(): FgClipError {
  return new FgClipError('DISPOSED', 'preprocess pool: the pool was closed; create a new one with createPreprocessPool');
}

/** The worker module beside this file (worker.js from dist/, worker.ts under tsx: see start-worker.ts). */
function startWorker(workerData: WorkerConfig): Worker {
  return startModuleWorker(import.meta.url, 'worker', workerData);
}
