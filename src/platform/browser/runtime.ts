/**
 * The runtime port (src/platform/ports.ts `InferenceRuntime`) in the browser: onnxruntime-web (wasm or WebGPU) with
 * an ordered list of execution providers. Graphs are opened from bytes (a built or exported ModelProto and its
 * external weights, which may be a Blob read one initializer at a time: external-data.ts); there are no files.
 */
import type * as OrtTypes from 'onnxruntime-web';
import { FgClipError } from '../../errors.js';
import { EXTERNAL_DATA_NAME } from '../../graph/onnx-builder.js';
import type { InferenceRuntime, RuntimeOutput, RuntimeSession } from '../ports.js';

type Ort = typeof OrtTypes;

const ORT_LOG = { verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 } as const;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Session creations, one at a time: onnxruntime-web mounts a session's external data under its path name
 * (EXTERNAL_DATA_NAME, the same for every graph) while the session is created, so two sessions created at once (a
 * family opening its text and vision graphs with Promise.all) could read each other's weights.
 */
let creating: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(f: () => Promise<T>): Promise<T> {
  const next = creating.then(f, f);
  creating = next.catch(() => undefined);
  return next;
}

export function webRuntime(ort: Ort, executionProviders: readonly string[]): InferenceRuntime {
  return {
    name: 'onnxruntime-web',
    async open(name, graph): Promise<RuntimeSession> {
      if ('file' in graph) throw new FgClipError('RUNTIME', `${name} graph: the browser runtime opens graphs from bytes, not from a file (${graph.file})`);
      let s: OrtTypes.InferenceSession;
      try {
        s = await oneAtATime(() =>
          ort.InferenceSession.create(graph.model, {
            executionProviders: [...executionProviders],
            graphOptimizationLevel: 'all',
            logSeverityLevel: ORT_LOG[ort.env.logLevel ?? 'error'],
            ...(graph.weights ? { externalData: [{ path: EXTERNAL_DATA_NAME, data: graph.weights }] } : {}),
          }),
        );
      } catch (e) {
        throw new FgClipError('RUNTIME', `${name} graph: onnxruntime-web could not create the session: ${message(e)}`, { cause: e });
      }
      return {
        async run(feeds) {
          const inputs: Record<string, OrtTypes.Tensor> = {};
          for (const [k, t] of Object.entries(feeds)) inputs[k] = new ort.Tensor(t.type, t.data as never, [...t.dims]);
          let out: OrtTypes.InferenceSession.ReturnType;
          try {
            out = await s.run(inputs);
          } catch (e) {
            throw new FgClipError('RUNTIME', `inference failed: ${message(e)}`, { cause: e });
          }
          const result: Record<string, RuntimeOutput> = {};
          for (const [k, t] of Object.entries(out)) result[k] = { data: t.data, dims: t.dims };
          return result;
        },
        release: () => s.release(),
      };
    },
  };
}
