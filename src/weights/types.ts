/** A weight tensor as the rest of the library sees it: always float32 in memory, row-major, PyTorch layout. */
export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  /** dtype as stored in the file (F16/BF16 are upcast to f32 on load). */
  readonly storedDtype: StoredDtype;
}
export type StoredDtype = 'F32' | 'F16' | 'BF16';
export type TensorMap = Map<string, Tensor>;
