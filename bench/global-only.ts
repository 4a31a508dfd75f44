/**
 * A vision session without the dense branch (`buildVisionGraph(..., { dense: false })`): the cost of the global
 * embedding alone, to price what the dense map (and hence region features) adds to a `runVision` pass. The library
 * itself always builds both outputs, so the benchmark builds this graph from the same checkpoint and options, and
 * the full graph beside it the same way, so the ratio is not skewed by how a session was created (in memory here,
 * from the graph cache file in the library).
 */
import { loadConfig } from '../src/config/index.js';
import { buildVisionGraph, VISION_INPUT } from '../src/families/fgclip/vision-graph.js';
import { weightSource } from '../src/weights/source.js';
import { createSession, ort } from '../src/runtime/session.js';
import { loadCheckpoint } from '../src/families/fgclip/checkpoint.js';

export interface OwnVisionSessions {
  /** global embedding only */
  global(pixels: Float32Array, batch: number): Promise<unknown>;
  /** global + dense, built the same way (so the pair differs only by the dense branch) */
  full(pixels: Float32Array, batch: number): Promise<unknown>;
  release(): Promise<void>;
}

/** Both vision graphs built in memory from the checkpoint, sessions created the same way. */
export async function ownVisionSessions(dir: string, threads: number, dtype: string): Promise<OwnVisionSessions> {
  const config = await loadConfig(dir);
  const { tensors } = await loadCheckpoint(dir, config);
  const ws = weightSource(tensors);
  const make = (dense: boolean) =>
    createSession(`vision_${dense ? 'full' : 'global_only'}`, buildVisionGraph(config, ws, { dense, dtype } as Parameters<typeof buildVisionGraph>[2]), {
      threads,
    });
  const globalSession = await make(false);
  const fullSession = await make(true);
  tensors.clear();
  const S = config.vision_config.image_size;
  const run = (s: ort.InferenceSession) => (pixels: Float32Array, batch: number) =>
    s.run({ [VISION_INPUT]: new ort.Tensor('float32', pixels, [batch, 3, S, S]) });
  return {
    global: run(globalSession),
    full: run(fullSession),
    release: async () => {
      await globalSession.release();
      await fullSession.release();
    },
  };
}
