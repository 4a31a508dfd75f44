/**
 * The gradient engine the CLI and `Trainer` users get by default: the project's autodiff (src/train/engine.ts,
 * `createGradientEngine`), built from the trainer's configuration and starting tensors.
 */
import type { FgClipConfig } from '../config/types.js';
import { FgClipError } from '../errors.js';
import type { EngineFactory } from './trainer.js';
import type { GradientEngine } from './types.js';
import { expectedTensors } from '../weights/index.js';

type CreateEngine = (source: { config: FgClipConfig; tensors: Map<string, { shape: readonly number[]; data: Float32Array; storedDtype: 'F32' }> }, opts: { threads?: number }) => Promise<GradientEngine>;

export function defaultEngineFactory(opts: { threads?: number } = {}): EngineFactory {
  return async (config) => {
    const specifier = './engine.js';
    let create: CreateEngine;
    try {
      create = ((await import(specifier)) as { createGradientEngine: CreateEngine }).createGradientEngine;
    } catch (e) {
      throw new FgClipError('RUNTIME', `train: the gradient engine (src/train/engine.ts) is not available in this build (${(e as Error).message})`, { cause: e });
    }
    // the engine only needs shapes here; the trainer passes the current values to every compute()
    const tensors = new Map([...expectedTensors(config)].map(([k, shape]) => [k, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)), storedDtype: 'F32' as const }]));
    return create({ config, tensors }, opts);
  };
}
