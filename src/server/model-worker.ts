/**
 * Worker-thread entry of ModelHost (model-host.ts): loads the model handle once and answers tokenize / runText /
 * runVision requests one at a time. ONNX Runtime's `run` blocks the thread that calls it; here that thread is this
 * worker, never the server's event loop. Float32 results travel back transferred (no copy).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isFgClipError } from '../errors.js';
import { FgClip, type LoadOptions } from '../model/handle.js';
import { tokenizeWith } from './served-model.js';
import type { HostReply, HostRequest, HostStart } from './model-protocol.js';

const port = parentPort!;
const start = workerData as HostStart;

function fail(id: number, e: unknown, type: 'result' | 'failed' = 'result'): HostReply {
  return { type, id, ok: false, code: isFgClipError(e) ? e.code : 'RUNTIME', message: e instanceof Error ? e.message : String(e) };
}

async function main(): Promise<void> {
  let model: FgClip;
  try {
    const options: LoadOptions = { ...start.options, preprocessWorkers: 0, onWarning: (message) => port.postMessage({ type: 'warning', message } satisfies HostReply) };
    model = await FgClip.load(start.model, options);
  } catch (e) {
    port.postMessage(fail(-1, e, 'failed'));
    return;
  }
  const pc = model.preprocessConfig;
  port.postMessage({
    type: 'ready',
    meta: {
      modelDir: model.modelDir,
      embeddingDim: model.embeddingDim,
      textLengths: model.textLengths,
      imageSize: model.imageSize,
      gridSize: model.gridSize,
      logitScale: model.logitScale,
      decode: model.decodeOptions(),
      preprocess: { size: model.imageSize, mode: start.options.preprocess ?? 'squash', mean: pc.image_mean, std: pc.image_std, rescaleFactor: pc.rescale_factor },
    },
  } satisfies HostReply);
  port.on('message', (r: HostRequest) => {
    void (async (): Promise<void> => {
      try {
        if (r.op === 'close') {
          model.dispose();
          port.postMessage({ type: 'result', id: r.id, ok: true, value: null } satisfies HostReply);
          port.close();
        } else if (r.op === 'tokenize') {
          port.postMessage({ type: 'result', id: r.id, ok: true, value: tokenizeWith(model.tokenizer, model.textLengths, r.texts, r.mode) } satisfies HostReply);
        } else if (r.op === 'text') {
          const out = await model.runText(r.ids, r.mode);
          port.postMessage({ type: 'result', id: r.id, ok: true, value: out } satisfies HostReply, out.map((v) => v.buffer as ArrayBuffer));
        } else {
          const out = await model.runVision(r.pixels);
          const transfer = [...out.image.map((v) => v.buffer as ArrayBuffer), ...out.dense.flat().map((v) => v.buffer as ArrayBuffer)];
          port.postMessage({ type: 'result', id: r.id, ok: true, value: out } satisfies HostReply, [...new Set(transfer)]);
        }
      } catch (e) {
        port.postMessage(fail(r.id, e));
      }
    })();
  });
}

void main();
