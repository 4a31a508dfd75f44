/**
 * The gradient engine the CLI and `Trainer` users get by default: the project's autodiff + losses
 * (src/train/engine.ts, `createGradientEngine`), built for the trainer's model configuration. The trainer passes the
 * current parameter values to every `compute`, so the engine is created from shapes only.
 */
import { fgclipTensors } from '../families/fgclip/checkpoint.js';
import { createGradientEngine } from './engine.js';
import type { EngineFactory } from './trainer.js';

export function defaultEngineFactory(opts: { threads?: number } = {}): EngineFactory {
  return async (config) => {
    const tensors = new Map([...fgclipTensors(config)].map(([k, shape]) => [k, { data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }]));
    return createGradientEngine({ config, tensors }, opts);
  };
}
