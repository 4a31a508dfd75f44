/**
 * A deterministic stand-in `GradientEngine` for testing the training loop's mechanics (resume, checkpoints, kill -9,
 * freezing) without the cost of the real autodiff: loss = ½·mean over parameters of (p − target)², where the target
 * of each value depends on the batch's pixels and token ids, so a different batch order gives different weights.
 * It computes nothing of FG-CLIP's loss; the real engine is tested in src/train by its owner.
 */
import type { FgClipConfig } from '../config/types.js';
import type { GradientEngine, GradientRequest, GradientResult, TrainBatch } from '../train/types.js';
import { fgclipTensors } from '../families/fgclip/checkpoint.js';

export function quadraticEngine(config: FgClipConfig, opts: { delayMs?: number } = {}): GradientEngine {
  const parameters = new Map<string, readonly number[]>(fgclipTensors(config));
  return {
    parameters,
    async compute(params: ReadonlyMap<string, Float32Array>, batch: TrainBatch, request: GradientRequest): Promise<GradientResult> {
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      let px = 0;
      for (let i = 0; i < batch.pixels.length; i += 97) px += batch.pixels[i];
      let ids = 0;
      for (const t of batch.textShort) for (const x of t) ids += x % 101;
      const c = Math.sin(px) + Math.cos(ids);
      let total = 0;
      let loss = 0;
      const grads = new Map<string, Float32Array>();
      for (const [name] of parameters) total += params.get(name)!.length;
      for (const [name] of parameters) {
        const p = params.get(name)!;
        const g = new Float32Array(p.length);
        for (let i = 0; i < p.length; i++) {
          const d = p[i] - c * Math.cos(i + name.length);
          loss += (0.5 * d * d) / total;
          g[i] = d / total;
        }
        if (!request.frozen?.has(name)) grads.set(name, g);
      }
      return { loss, parts: { itc_long: loss, itc_short: 0, region: 0, hard_negative: 0 }, grads };
    },
    async dispose() {},
  };
}
