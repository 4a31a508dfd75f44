/**
 * The checkpoint reading port: how a family reads the weight files of its folder. Node reads them by path
 * (src/platform/node/checkpoint-files.ts), the browser worker from Blobs (src/platform/browser/checkpoint-files.ts);
 * the safetensors header parser, dtype upcasts and validation are shared.
 */
import type { RawCheckpoint } from './checkpoint.js';
import type { SafetensorsHeader } from './safetensors.js';
import type { TensorMap } from './types.js';

/** One safetensors file of the folder, header already validated. */
export interface SafetensorsFile {
  /** the file as errors name it */
  readonly where: string;
  readonly header: SafetensorsHeader;
  /** the selected tensors as float32 (F16/BF16 upcast exactly; other dtypes WEIGHTS_DTYPE; non-finite values refused) */
  read(only?: (name: string) => boolean): Promise<TensorMap>;
  /** bytes [begin, end) of the file, read synchronously (shorter when the file ends first): row reads of a table left in the file */
  readSync(begin: number, end: number): Uint8Array;
  /** releases what `readSync` holds open */
  close(): void;
}

export interface CheckpointFiles {
  /** every tensor of the checkpoint (from_pretrained's file order; ignorable buffers skipped), as stored, float32 */
  readAll(): Promise<RawCheckpoint>;
  /** the safetensors file `name` of the folder (absent: WEIGHTS_MISSING) */
  safetensors(name: string): Promise<SafetensorsFile>;
}
