/**
 * The text tower's token table read row by row from the safetensors file: FG-CLIP 2 uses a 256k-row Gemma
 * vocabulary (256000 × 768 floats = 786 MB for fg-clip2-base), of which a caption needs ≤ 196 rows. Rows are read
 * on demand through the checkpoint reading port (positioned reads) (F16/BF16 upcast exactly) and a small cache keeps the frequent ones.
 */
import { FgClipError } from '../../errors.js';
import type { SafetensorsFile } from '../../weights/checkpoint-files.js';
import { isLoadable, upcastHalf } from '../../weights/dtype.js';
import type { SafetensorsEntry } from '../../weights/safetensors.js';

const CACHE_ROWS = 4096;

export class TokenTable {
  readonly rows: number;
  readonly dim: number;
  private readonly itemSize: number;
  private readonly cache = new Map<number, Float32Array>();

  private readonly path: string;

  constructor(
    private readonly file: SafetensorsFile,
    private readonly entry: SafetensorsEntry,
  ) {
    const path = file.where;
    this.path = path;
    if (entry.shape.length !== 2)
      throw new FgClipError('WEIGHTS_SHAPE', `${path}: ${entry.name} must be 2-D [vocab, hidden] (got [${entry.shape.join(', ')}])`);
    if (!isLoadable(entry.dtype)) throw new FgClipError('WEIGHTS_DTYPE', `${path}: ${entry.name} is ${entry.dtype}; loadable dtypes: F32, F16, BF16`);
    [this.rows, this.dim] = entry.shape;
    this.itemSize = entry.dtype === 'F32' ? 4 : 2;
    if (entry.end - entry.begin !== this.rows * this.dim * this.itemSize)
      throw new FgClipError('WEIGHTS_MALFORMED', `${path}: ${entry.name} byte range does not match its shape`);
  }

  /** Row `id` as float32 (a fresh copy the caller may keep). */
  row(id: number): Float32Array {
    if (!Number.isSafeInteger(id) || id < 0 || id >= this.rows)
      throw new FgClipError('INPUT_INVALID', `token id ${id} is outside the token table (0..${this.rows - 1})`);
    const hit = this.cache.get(id);
    if (hit !== undefined) return hit;
    const n = this.dim * this.itemSize;
    const at = this.entry.begin + id * n;
    // a copy with its own buffer (the port may return a view)
    const bytes = this.file.readSync(at, at + n).slice();
    if (bytes.length < n) throw new FgClipError('WEIGHTS_MALFORMED', `${this.path}: ${this.entry.name}: file ends inside row ${id}; download it again`);
    let out: Float32Array;
    if (this.entry.dtype === 'F32') out = new Float32Array(bytes.buffer);
    else {
      out = new Float32Array(this.dim);
      upcastHalf(this.entry.dtype as 'F16' | 'BF16', new Uint16Array(bytes.buffer), out);
    }
    if (this.cache.size >= CACHE_ROWS) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(id, out);
    return out;
  }

  /** [ids.length, dim] rows for a batch of token ids, written into `out` at `offset` (floats). */
  gather(ids: readonly number[], out: Float32Array, offset: number): void {
    for (let i = 0; i < ids.length; i++) out.set(this.row(ids[i]), offset + i * this.dim);
  }

  close(): void {
    this.file.close();
    this.cache.clear();
  }
}
