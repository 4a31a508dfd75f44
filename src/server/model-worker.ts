/**
 * Worker-thread entry of ModelHost (model-host.ts): loads the model handle once and answers plan / text / vision /
 * decoded requests one at a time. ONNX Runtime's `run` blocks the thread that calls it; here that thread is this
 * worker, never the server's event loop. Float32 results travel back transferred (no copy).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isFgClipError } from '../errors.js';
import { lowerThreadPriority } from '../pipeline/thread-priority.js';
import { FgClip, type LoadOptions } from '../model/handle.js';
import type { HostReply, HostRequest, HostStart } from './model-protocol.js';
import { handleOps, infoOf } from './served-model.js';

const port = parentPort as NonNullable<typeof parentPort>;
const start = workerData as HostStart;

function fail(id: number, e: unknown, type: 'result' | 'failed' = 'result'): HostReply {
  return { type, id, ok: false, code: isFgClipError(e) ? e.code : 'RUNTIME', message: e instanceof Error ? e.message : String(e) };
}

/** The distinct ArrayBuffers under a set of typed arrays (to transfer them). */
function buffers(arrays: readonly (Float32Array | undefined)[]): ArrayBuffer[] {
  return [...new Set(arrays.filter((v): v is Float32Array => v !== undefined).map((v) => v.buffer as ArrayBuffer))];
}

async function main(): Promise<void> {
  // before the sessions exist: ONNX Runtime's intra-op threads are created by this thread and inherit its priority
  if (start.nice !== undefined) lowerThreadPriority(start.nice);
  let model: FgClip;
  try {
    const options: LoadOptions = {
      ...start.options,
      preprocessWorkers: 0,
      onWarning: (message) => port.postMessage({ type: 'warning', message } satisfies HostReply),
    };
    model = await FgClip.load(start.model, options);
  } catch (e) {
    port.postMessage(fail(-1, e, 'failed'));
    return;
  }
  const ops = handleOps(model);
  port.postMessage({ type: 'ready', info: infoOf(model) } satisfies HostReply);
  port.on('message', (r: HostRequest) => {
    void (async (): Promise<void> => {
      try {
        if (r.op === 'close') {
          model.dispose();
          port.postMessage({ type: 'result', id: r.id, ok: true, value: null } satisfies HostReply);
          port.close();
        } else if (r.op === 'plan') {
          port.postMessage({ type: 'result', id: r.id, ok: true, value: await ops.planTexts(r.texts, r.opts) } satisfies HostReply);
        } else if (r.op === 'text') {
          const out = await ops.runText(r.ids, r.mode);
          port.postMessage({ type: 'result', id: r.id, ok: true, value: out } satisfies HostReply, buffers(out));
        } else if (r.op === 'vision') {
          const out = await ops.runVision(r.pixels, { dense: r.dense });
          port.postMessage({ type: 'result', id: r.id, ok: true, value: out } satisfies HostReply, buffers([...out.image, ...out.dense.flat()]));
        } else {
          const out = await ops.encodeDecoded(r.images, r.opts);
          port.postMessage(
            { type: 'result', id: r.id, ok: true, value: out } satisfies HostReply,
            buffers(out.flatMap((e) => [e.embedding, ...(e.dense ?? []), ...(e.regions ?? [])])),
          );
        }
      } catch (e) {
        port.postMessage(fail(r.id, e));
      }
    })();
  });
}

void main();
