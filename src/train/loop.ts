/** The training loop's public API (the gradient engine itself is exported by src/train/index.ts). */
export { AdamW, ADAMW_DEFAULTS, clipGradNorm, isNoDecay, type AdamWOptions, type AdamWState } from './optimizer.js';
export { learningRate, lrFactor, type ScheduleKind, type ScheduleOptions } from './schedule.js';
export {
  readRecords,
  parseRecords,
  MAX_BOXES,
  HARD_NEGATIVES,
  type TrainRecord,
  type RecordBox,
  type BadRecord,
  type ParsedRecords,
  type ReadRecordsOptions,
} from './data/records.js';
export { BatchLoader, collate, SHORT_CAPTION_PREFIX, type BadRecordPolicy, type DataPosition, type LoadedBatch, type LoaderOptions } from './data/loader.js';
export { epochOrder } from './data/rng.js';
export { Trainer, frozenSet, splitHeldOut, type EngineFactory, type FreezeOptions, type StepRecord, type TrainerOptions, type TrainResult } from './trainer.js';
export { defaultEngineFactory } from './default-engine.js';
export { evaluateHeldOut, type EvaluateOptions, type HeldOutMetrics } from './evaluate.js';
export { initParameters, smallConfig, SYNTHETIC_MODEL_SPEC, type SmallModelSpec } from './init.js';
export { configJson, listCheckpoints, writeCheckpointAtomic, type ModelFiles, type TrainingFiles } from './checkpoint-writer.js';
export { generateSyntheticDataset, type GenerateOptions } from './synthetic/scenes.js';
