/** The runtime port (src/platform/ports.ts `InferenceRuntime`) on Node: onnxruntime-node. */
import { createSession, createSessionFromFile, ort, runSession } from '../../runtime/session.js';
import type { GraphSource, InferenceRuntime, RuntimeOptions, RuntimeOutput, RuntimeSession, RuntimeTensor } from '../ports.js';

function wrap(name: string, session: ort.InferenceSession): RuntimeSession {
  return {
    async run(feeds: Readonly<Record<string, RuntimeTensor>>): Promise<Record<string, RuntimeOutput>> {
      const inputs: Record<string, ort.Tensor> = {};
      for (const [k, t] of Object.entries(feeds)) inputs[k] = new ort.Tensor(t.type, t.data, t.dims);
      const out = await runSession(name, session, inputs);
      const result: Record<string, RuntimeOutput> = {};
      for (const [k, t] of Object.entries(out)) result[k] = { data: t.data, dims: t.dims };
      return result;
    },
    release: () => session.release(),
  };
}

export const nodeRuntime: InferenceRuntime = {
  name: 'onnxruntime-node',
  async open(name: string, graph: GraphSource, opts: RuntimeOptions): Promise<RuntimeSession> {
    const session = 'file' in graph ? await createSessionFromFile(name, graph.file, opts) : await createSession(name, graph, opts);
    return wrap(name, session);
  },
};
