/**
 * Preprocessing worker: decodes and preprocesses one item per message with exactly the in-thread code (the injected
 * image decoder through `decodeInput`, then `preprocessImage`), and transfers the float32 pixels back without a copy.
 * Each failure is reported for its item; the worker itself keeps running. The decoder is imported from the module
 * the pool names (`WorkerConfig.decoder`) before the worker reports ready.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isFgClipError } from '../errors.js';
import type { ImageDecoder } from '../platform/ports.js';
import { decodeInput } from '../preprocess/decode-input.js';
import { preprocessImage } from '../preprocess/index.js';
import type { ResultMessage, TaskMessage, WorkerConfig } from './protocol.js';
import { lowerThreadPriority } from './thread-priority.js';

const port = parentPort;
if (!port) throw new Error('src/pipeline/worker: must run as a worker thread (started by createPreprocessPool)');
const config = workerData as WorkerConfig;
if (config.nice !== undefined) lowerThreadPriority(config.nice);
const decoder = (await import(config.decoder.module))[config.decoder.exportName] as ImageDecoder | undefined;
if (typeof decoder?.decode !== 'function')
  throw new Error(`src/pipeline/worker: ${config.decoder.module} exports no ImageDecoder named ${config.decoder.exportName}`);

async function handle(task: TaskMessage): Promise<void> {
  try {
    const img = await decodeInput(decoder as ImageDecoder, task.input, config.decode);
    const pixels = preprocessImage(img, config.preprocess);
    // Transfer only a buffer that holds exactly these pixels (never a shared or larger one).
    const own = pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength ? pixels : pixels.slice();
    const msg: ResultMessage = { type: 'result', id: task.id, ok: true, pixels: own, width: img.width, height: img.height };
    port!.postMessage(msg, [own.buffer as ArrayBuffer]);
  } catch (e) {
    const msg: ResultMessage = isFgClipError(e)
      ? { type: 'result', id: task.id, ok: false, code: e.code, message: e.message }
      : {
          type: 'result',
          id: task.id,
          ok: false,
          code: 'RUNTIME',
          message: `preprocess worker: unexpected ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
        };
    port!.postMessage(msg);
  }
}

port.on('message', (task: TaskMessage) => void handle(task));
port.postMessage({ type: 'ready' });
