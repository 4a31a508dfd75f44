/**
 * `pytorch_model.bin` as written by `torch.save(state_dict)` since PyTorch 1.6: a STORED zip holding
 * `<archive>/data.pkl` (the pickled state dict), `<archive>/data/<key>` (raw little-endian storages),
 * `<archive>/version` and, in newer files, `<archive>/byteorder` (torch/serialization.py `_save` / `_load`).
 * The pickle is interpreted by the restricted unpickler in torch-pickle.ts; tensors are copied out of their
 * storages honouring storage offset and strides, into contiguous row-major float32.
 */
import { FgClipError } from '../errors.js';
import { assertFinite, isLoadable, itemSize, upcastHalf, assertLittleEndianHost } from './dtype.js';
import type { ReadOptions } from './safetensors.js';
import { unpickleStateDict, type StorageRef, type TensorRef } from './torch-pickle.js';
import type { StoredDtype, TensorMap } from './types.js';
import { StoredZip } from './zip.js';

const MAX_PICKLE_BYTES = 256 << 20;

export async function readPytorchBin(path: string, opts: ReadOptions = {}): Promise<TensorMap> {
  const zip = await StoredZip.open(path);
  try {
    const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1) {
      throw new FgClipError('WEIGHTS_MALFORMED', `${path}: expected exactly one <archive>/data.pkl entry (found ${pkls.length}). Not a torch.save checkpoint.`);
    }
    const prefix = pkls[0].slice(0, -'data.pkl'.length);
    const bo = zip.entries.get(`${prefix}byteorder`);
    if (bo) {
      const mark = new TextDecoder().decode(await zip.read(bo, 16));
      if (mark !== 'little') {
        throw new FgClipError(
          'WEIGHTS_MALFORMED',
          `${path}: byteorder is ${JSON.stringify(mark)} (expected "little"). Re-save the checkpoint on a little-endian machine.`,
        );
      }
    } // absent: files from older torch, which torch._load reads as little-endian
    const pkl = await zip.read(zip.entries.get(pkls[0])!, MAX_PICKLE_BYTES);
    const refs = unpickleStateDict(pkl, `${path}:${pkls[0]}`, (key) => zip.entries.has(`${prefix}data/${key}`));

    const selected = [...refs].filter(([name]) => !opts.only || opts.only(name));
    const bad = selected.filter(([, t]) => !isLoadable(t.storage.dtype));
    if (bad.length > 0) {
      const list = bad.map(([n, t]) => `${n} (${t.storage.dtype})`).join(', ');
      throw new FgClipError('WEIGHTS_DTYPE', `${path}: unsupported tensor dtype for ${list}. Loadable dtypes: F32, F16, BF16.`);
    }
    const uses = new Map<string, number>();
    for (const [, t] of selected) uses.set(t.storage.key, (uses.get(t.storage.key) ?? 0) + 1);
    // Memory bounded by the file: each view is at most its storage (checked while unpickling) and storages do not
    // overlap in the zip, so only many views of the same storage could still multiply memory. Allow every storage
    // to be viewed twice over (tied weights), no more.
    const storageElems = new Map<string, number>();
    for (const [, t] of selected) storageElems.set(t.storage.key, t.storage.numel);
    const stored = [...storageElems.values()].reduce((a, n) => a + n, 0);
    const demanded = selected.reduce((a, [, t]) => a + numelOf(t.size), 0);
    if (demanded > 2 * stored + (1 << 20)) {
      throw new FgClipError(
        'WEIGHTS_MALFORMED',
        `${path}: the state dict's tensors hold ${demanded} elements but their storages only ${stored}; a checkpoint does not view the same storage this many times. Refusing: memory would not be bounded by the file size.`,
      );
    }

    const storages = new Map<string, Float32Array>();
    const readStorage = async (s: StorageRef, dtype: StoredDtype): Promise<Float32Array> => {
      const cached = storages.get(s.key);
      if (cached) return cached;
      const entry = zip.entries.get(`${prefix}data/${s.key}`)!; // existence checked while unpickling
      const bytes = s.numel * itemSize(dtype);
      if (entry.size !== bytes) {
        throw new FgClipError(
          'WEIGHTS_MALFORMED',
          `${path}: storage ${s.key} has ${entry.size} bytes but the pickle declares ${s.numel} ${dtype} elements (${bytes} bytes)`,
        );
      }
      assertLittleEndianHost();
      const out = new Float32Array(s.numel);
      if (dtype === 'F32') await zip.readInto(entry, new Uint8Array(out.buffer));
      else {
        const raw = new Uint16Array(s.numel);
        await zip.readInto(entry, new Uint8Array(raw.buffer));
        upcastHalf(dtype, raw, out);
      }
      storages.set(s.key, out);
      return out;
    };

    const out: TensorMap = new Map();
    for (const [name, t] of selected) {
      const dtype = t.storage.dtype;
      if (!isLoadable(dtype)) continue; // unreachable: checked above; narrows the type
      const src = await readStorage(t.storage, dtype);
      const whole = uses.get(t.storage.key) === 1 && isContiguous(t) && t.offset === 0 && numelOf(t.size) === src.length;
      const data = whole ? src : stridedCopy(src, t);
      if (!opts.allowNonFinite) assertFinite(data, path, name);
      out.set(name, { shape: [...t.size], data, storedDtype: dtype });
    }
    return out;
  } finally {
    await zip.close();
  }
}

function numelOf(size: readonly number[]): number {
  return size.reduce((a, d) => a * d, 1);
}

function isContiguous(t: TensorRef): boolean {
  let expect = 1;
  for (let i = t.size.length - 1; i >= 0; i--) {
    if (t.size[i] !== 1 && t.stride[i] !== expect) return false;
    expect *= t.size[i];
  }
  return true;
}

/** Copies the view (offset, size, stride) of `src` into a new contiguous row-major array. */
export function stridedCopy(src: Float32Array, t: TensorRef): Float32Array {
  const { size, stride } = t;
  const n = numelOf(size);
  const out = new Float32Array(n);
  if (n === 0) return out;
  if (size.length === 0) {
    out[0] = src[t.offset];
    return out;
  }
  const rank = size.length;
  const inner = size[rank - 1];
  const innerStride = stride[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let base = t.offset;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0; j < inner; j++) out[o + j] = src[base + j * innerStride];
    // advance the outer multi-index like an odometer
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      base += stride[d];
      if (idx[d] < size[d]) break;
      base -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return out;
}
