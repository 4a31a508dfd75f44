export type { StoredDtype, Tensor, TensorMap } from './types.js';
export { LOADABLE_DTYPES, SAFETENSORS_ITEM_SIZE, upcastHalf } from './dtype.js';
export {
  MAX_HEADER_BYTES,
  parseHeader,
  readSafetensors,
  readSafetensorsHeader,
  type ReadOptions,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './safetensors.js';
export { isPlainFileName, readSafetensorsIndex, readShardedSafetensors } from './safetensors-index.js';
export { encodeSafetensors, rawF32, type RawTensor } from './safetensors-write.js';
export { readPytorchBin, stridedCopy } from './pytorch-bin.js';
export { unpickleStateDict, type TorchDtype } from './torch-pickle.js';
export { StoredZip, type ZipEntry } from './zip.js';
export {
  WEIGHT_FILES,
  buildLongPositionTables,
  carryOpenAiCheckpoint,
  isIgnorableBuffer,
  readCheckpoint,
  type RawCheckpoint,
} from './checkpoint.js';
