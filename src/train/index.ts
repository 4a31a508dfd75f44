/** Training: the gradient engine (autodiff over the graph builder + the reference's losses) and its contract. */
export type { GradientEngine, GradientRequest, GradientResult, LossParts, NormalizedBox, Stage, TrainBatch } from './types.js';
export { createGradientEngine, OrtGradientEngine, type CheckpointGradientEngine, type GradientEngineOptions, type LoadedTrainModel } from './engine.js';
export { batchFromReferenceJson, validateBatch } from './batch.js';
export { HARD_GROUP, HARD_NEGATIVE_WEIGHT, REGION_WEIGHT } from './graph.js';
