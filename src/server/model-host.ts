/**
 * The model off the event loop: a worker thread owns the model handle (ONNX Runtime's `run` blocks the thread that
 * calls it, so it must not be the server's), and a bounded worker pool resizes images (the exact JavaScript
 * resize is CPU work too). The server thread keeps parsing requests, answering /health and /metrics, and queueing
 * items while a batch runs, so concurrent requests merge into the next batch.
 *
 * Why a worker thread and not a process: the pixel batches and results cross as transferred ArrayBuffers (no copy,
 * no serialization), the model is loaded once per server, and a crash of the worker is seen as an 'exit' event that
 * fails the pending calls with a typed RUNTIME error.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { FgClipError } from '../errors.js';
import type { TextMode } from '../families/types.js';
import { resolveModelDir } from '../hub/index.js';
import type { LoadOptions, TextModeOption } from '../model/handle.js';
import { createPreprocessPool, type PreprocessPool } from '../pipeline/index.js';
import { startModuleWorker } from '../pipeline/start-worker.js';
import type { DecodeOptions, RgbImage } from '../preprocess/index.js';
import type { HostLoadOptions, HostMeta, HostReply, HostRequest } from './model-protocol.js';
import type { ServedModel, Tokenized } from './served-model.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
type RequestBody = HostRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface ModelHostOptions extends LoadOptions {
  /** threads resizing images (default: min(2, cores)) */
  readonly preprocessThreads?: number;
}

export class ModelHost implements ServedModel {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private dead: FgClipError | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly meta: HostMeta,
    private readonly pool: PreprocessPool,
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
    const { hub: _hub, onWarning, preprocessThreads, ...rest } = options;
    const worker = startModuleWorker(import.meta.url, 'model-worker', { model: dir, options: rest satisfies HostLoadOptions });
    const meta = await new Promise<HostMeta>((resolve, reject) => {
      const onMessage = (m: HostReply) => {
        if (m.type === 'warning') onWarning?.(m.message);
        else if (m.type === 'ready') resolve(m.meta);
        else if (m.type === 'failed' && !m.ok) reject(new FgClipError(m.code, m.message));
      };
      worker.on('message', onMessage);
      worker.once('error', (e) => reject(new FgClipError('RUNTIME', `the model worker failed to start: ${e.message}`, { cause: e })));
      worker.once('exit', (code) => reject(new FgClipError('RUNTIME', `the model worker exited while loading (code ${code})`)));
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    const pool = await createPreprocessPool({ ...meta.preprocess, ...meta.decode, threads: preprocessThreads ?? Math.min(2, availableParallelism()) });
    return new ModelHost(worker, meta, pool);
  }

  get modelDir(): string {
    return this.meta.modelDir;
  }
  get embeddingDim(): number {
    return this.meta.embeddingDim;
  }
  get textLengths() {
    return this.meta.textLengths;
  }
  get imageSize(): number {
    return this.meta.imageSize;
  }
  get gridSize(): number {
    return this.meta.gridSize;
  }
  get logitScale(): number {
    return this.meta.logitScale;
  }
  decodeOptions(): DecodeOptions {
    return this.meta.decode;
  }

  /** The exact resize + normalization, in the preprocessing pool. */
  async preprocess(rgb: RgbImage): Promise<{ pixels: Float32Array }> {
    return this.pool.run(rgb);
  }

  tokenize(texts: readonly string[], mode: TextModeOption): Promise<Tokenized> {
    return this.call({ op: 'tokenize', texts, mode }) as Promise<Tokenized>;
  }

  runText(ids: number[][], mode: TextMode): Promise<Float32Array[]> {
    return this.call({ op: 'text', ids, mode }) as Promise<Float32Array[]>;
  }

  runVision(pixels: Float32Array): Promise<{ image: Float32Array[]; dense: Float32Array[][] }> {
    return this.call({ op: 'vision', pixels }, [pixels.buffer as ArrayBuffer]) as Promise<{ image: Float32Array[]; dense: Float32Array[][] }>;
  }

  /** Disposes the model in the worker and stops it; pending calls fail with DISPOSED. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    const bye = this.dead ? Promise.resolve() : this.call({ op: 'close' }).catch(() => undefined);
    this.closed = true;
    await bye;
    for (const p of this.pending.values()) p.reject(new FgClipError('DISPOSED', 'the model host was closed'));
    this.pending.clear();
    await Promise.all([this.worker.terminate(), this.pool.close()]);
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
