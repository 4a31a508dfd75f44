/**
 * The model worker: one model per worker, requests answered in order. Results' Float32Array buffers are
 * transferred to the page, not copied.
 */
import { FgClipError } from '../../errors.js';
import type { BrowserModel } from './browser-model.js';
import { WorkerModel } from './model.js';
import type { Request, Response, WireImageResult, WireTextResult } from './protocol.js';
import { provider } from './sources.js';

let model: BrowserModel | undefined;
/** the model's source, kept until dispose when the model reads its files after loading */
let heldSource: { release?(): Promise<void> } | undefined;
let queue: Promise<unknown> = Promise.resolve();

function post(msg: Response, transfer: Transferable[] = []): void {
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(msg, transfer);
}

function buffersOf(x: WireTextResult | WireImageResult[]): Transferable[] {
  const out = new Set<ArrayBuffer>();
  const add = (v?: Float32Array | Float32Array[]) => {
    if (!v) return;
    for (const a of Array.isArray(v) ? v : [v]) if (a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  };
  if (Array.isArray(x)) {
    for (const r of x) {
      add(r.embedding);
      add(r.dense);
      add(r.regions);
    }
  } else add(x.embeddings);
  return [...out];
}

function alive(): BrowserModel {
  if (!model) throw new FgClipError('DISPOSED', 'FgClip: the model is not loaded (or was disposed)');
  return model;
}

async function handle(req: Request): Promise<void> {
  try {
    switch (req.type) {
      case 'load': {
        const p = provider(req.source, req.options.cache, (progress) => post({ id: req.id, type: 'progress', progress }));
        let keep = false;
        try {
          model = await WorkerModel.load(p, req.options, (progress) => post({ id: req.id, type: 'progress', progress }));
          keep = model.readsSourceLater === true;
        } finally {
          if (keep) heldSource = p;
          else await p.release?.().catch(() => undefined);
        }
        post({ id: req.id, type: 'result', result: model.info });
        return;
      }
      case 'encodeTexts': {
        const r = await alive().encodeTexts(req.texts, req.mode, req.normalize);
        post({ id: req.id, type: 'result', result: r }, buffersOf(r));
        return;
      }
      case 'encodeImages': {
        const r = await alive().encodeImages(req.images, req.normalize, req.dense, req.boxes);
        post({ id: req.id, type: 'result', result: r }, buffersOf(r));
        return;
      }
      case 'dispose': {
        await model?.dispose();
        model = undefined;
        await heldSource?.release?.().catch(() => undefined);
        heldSource = undefined;
        post({ id: req.id, type: 'result', result: null });
        return;
      }
    }
  } catch (e) {
    const error =
      e instanceof FgClipError
        ? { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) }
        : { code: 'RUNTIME', message: e instanceof Error ? e.message : String(e) };
    post({ id: req.id, type: 'error', error });
  }
}

self.onmessage = (ev: MessageEvent<Request>) => {
  queue = queue.then(() => handle(ev.data));
};
