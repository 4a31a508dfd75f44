/**
 * The model off the event loop: a worker thread owns the model handle (ONNX Runtime's `run` blocks the thread that
 * calls it, so it must not be the server's), and a bounded worker pool decodes and resizes images (the exact
 * JavaScript resize is CPU work too). The server thread keeps parsing requests, answering /health and /metrics, and
 * queueing items while a batch runs, so concurrent requests merge into the next batch.
 *
 * Why a worker thread and not a process: pixel batches and results cross as transferred ArrayBuffers (no copy, no
 * serialization), the model is loaded once per server, and a crash of the worker is seen as an 'exit' event that
 * fails the pending calls with a typed RUNTIME error.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { FgClipError } from '../errors.js';
import type { TextMode, VisionFeatures, VisionRunOptions } from '../families/types.js';
import { resolveModelDir } from '../hub/index.js';
import type { ImageEncoding, PreprocessedImage } from '../model/encoder.js';
import type { LoadOptions } from '../model/handle.js';
import { createPreprocessPool, type PreprocessPool } from '../pipeline/index.js';
import { startModuleWorker } from '../pipeline/start-worker.js';
import type { RgbImage } from '../preprocess/index.js';
import type { HostLoadOptions, HostReply, HostRequest, HostStart } from './model-protocol.js';
import type { DecodedOptions, PlanOptions, ServedModel, ServedModelInfo, TextPlan } from './served-model.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
type RequestBody = HostRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface ModelHostOptions extends LoadOptions {
  /** threads decoding and resizing images (default: min(2, cores)) */
  readonly preprocessThreads?: number;
  /**
   * nice value of the model worker (and the ONNX Runtime threads it creates) and of the decode workers (default
   * 10; 0 leaves them at the server's priority). Linux only: the HTTP thread then wins the CPU over them.
   */
  readonly nice?: number;
}

/**
 * What a served model's threads default to, so that the HTTP thread keeps answering while the model runs
 * (BENCHMARKS.md, "Load test"): ONNX Runtime uses every core and does not spin between operators, and the model
 * and decode threads run at a lower priority (nice 10) than the HTTP thread, which therefore wins a core when it
 * needs one. (Session 3 left a core to the HTTP thread instead; on fg-clip-base that cost 1/N of the throughput —
 * 0.62x on 2 cores — for no better /health, measured in session 4.)
 */
export const SERVED_DEFAULTS = {
  threads: () => availableParallelism(),
  spinning: false,
  nice: 10,
} as const;

export class ModelHost implements ServedModel {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private dead: FgClipError | undefined;
  private pool: Promise<PreprocessPool> | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly info: ServedModelInfo,
    private readonly preprocessThreads: number,
    private readonly nice: number,
  ) {
    worker.on('message', (m: HostReply) => {
      if (m.type !== 'result') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new FgClipError(m.code, m.message));
    });
    const die = (why: string) => {
      this.dead ??= new FgClipError('RUNTIME', `the model worker stopped (${why}); restart the server`);
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    worker.on('error', (e) => die(e.message));
    worker.on('exit', (code) => {
      if (!this.closed) die(`exit code ${code}`);
    });
  }

  /** Resolves the model (Hub downloads happen here, with progress), then loads it inside a worker thread. */
  static async start(model: string, options: ModelHostOptions = {}): Promise<ModelHost> {
    const dir = await resolveModelDir(model, { ...options.hub, revision: options.revision ?? options.hub?.revision });
    const { hub: _hub, onWarning, preprocessThreads, runtime, nice = SERVED_DEFAULTS.nice, ...rest } = options;
    if (runtime !== undefined)
      throw new FgClipError(
        'INPUT_INVALID',
        'ModelHost.start: an injected runtime cannot cross to the model worker thread (it loads onnxruntime-node itself); load a handle with FgClip.load and pass it to createServer instead',
      );
    const load: HostLoadOptions = { ...rest, threads: rest.threads ?? SERVED_DEFAULTS.threads(), spinning: rest.spinning ?? SERVED_DEFAULTS.spinning };
    const worker = startModuleWorker(import.meta.url, 'model-worker', { model: dir, options: load, nice } satisfies HostStart);
    const info = await new Promise<ServedModelInfo>((resolve, reject) => {
      worker.on('message', (m: HostReply) => {
        if (m.type === 'warning') onWarning?.(m.message);
        else if (m.type === 'ready') resolve(m.info);
        else if (m.type === 'failed' && !m.ok) reject(new FgClipError(m.code, m.message));
      });
      worker.once('error', (e) => reject(new FgClipError('RUNTIME', `the model worker failed to start: ${e.message}`, { cause: e })));
      worker.once('exit', (code) => reject(new FgClipError('RUNTIME', `the model worker exited while loading (code ${code})`)));
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    return new ModelHost(worker, info, preprocessThreads ?? Math.min(2, availableParallelism()), nice);
  }

  planTexts(texts: readonly string[], opts: PlanOptions): Promise<TextPlan> {
    return this.call({ op: 'plan', texts, opts: { mode: opts.mode, truncate: opts.truncate, field: opts.field } }) as Promise<TextPlan>;
  }

  runText(ids: number[][], mode: TextMode): Promise<Float32Array[]> {
    return this.call({ op: 'text', ids, mode }) as Promise<Float32Array[]>;
  }

  /**
   * `pixels` (a batch, or a list of images that the worker assembles into one) is transferred to the worker: the
   * caller's buffers are detached. Each must own its whole buffer (a view into a larger or shared one is copied).
   */
  runVision(pixels: Float32Array | readonly Float32Array[], opts: VisionRunOptions = {}): Promise<VisionFeatures> {
    const own = (a: Float32Array) => (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer ? a : a.slice());
    const list = pixels instanceof Float32Array ? [own(pixels)] : pixels.map(own);
    // one buffer may appear only once in a transfer list (the same image twice in a batch is sent twice, copied)
    const seen = new Set<ArrayBufferLike>();
    const sent = list.map((a) => {
      if (seen.has(a.buffer)) return a.slice();
      seen.add(a.buffer);
      return a;
    });
    return this.call(
      { op: 'vision', pixels: pixels instanceof Float32Array ? sent[0] : sent, dense: opts.dense ?? true },
      sent.map((a) => a.buffer as ArrayBuffer),
    ) as Promise<VisionFeatures>;
  }

  /** The images' pixel bytes are copied once and the copies transferred. */
  encodeDecoded(images: RgbImage[], opts: DecodedOptions): Promise<ImageEncoding[]> {
    const copies = images.map((im) => ({ width: im.width, height: im.height, data: new Uint8Array(im.data) }));
    return this.call(
      { op: 'decoded', images: copies, opts },
      copies.map((c) => c.data.buffer as ArrayBuffer),
    ) as Promise<ImageEncoding[]>;
  }

  /** Decoding and the exact resize + normalization, in the preprocessing pool (started on first use). */
  async preprocess(input: string | Uint8Array | RgbImage): Promise<PreprocessedImage> {
    if (this.closed) throw new FgClipError('DISPOSED', 'the model host was closed');
    this.pool ??= createPreprocessPool({ ...this.info.preprocess, ...this.info.decode, threads: this.preprocessThreads, nice: this.nice });
    return (await this.pool).run(input);
  }

  /** Disposes the model in the worker and stops it; pending calls fail with DISPOSED. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    const bye = this.dead ? Promise.resolve() : this.call({ op: 'close' }).catch(() => undefined);
    this.closed = true;
    await bye;
    for (const p of this.pending.values()) p.reject(new FgClipError('DISPOSED', 'the model host was closed'));
    this.pending.clear();
    await Promise.all([this.worker.terminate(), this.pool?.then((p) => p.close()).catch(() => undefined)]);
  }

  private call(body: RequestBody, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.closed) return Promise.reject(new FgClipError('DISPOSED', 'the model host was closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...body, id } as HostRequest, transfer);
    });
  }
}
