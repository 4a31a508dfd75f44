/**
 * A restricted unpickler for `torch.save(state_dict)` — never executes anything. It interprets the subset of the
 * pickle VM that torch's pickler emits (CPython Lib/pickletools.py documents each opcode) and resolves GLOBAL only
 * to a fixed allow-list: `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`/`_rebuild_parameter` and the
 * typed storage markers (`torch.FloatStorage`, ...). Those are modelled as data, not called. Any other global
 * (`os.system`, `builtins.eval`, ...), callable or opcode is WEIGHTS_UNSAFE. Reference for the layout:
 * torch/serialization.py (`_save`: persistent id `('storage', storage_type, key, location, numel)`,
 * `_load`) and torch/_utils.py (`_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata])`).
 */
import { FgClipError } from '../errors.js';

/** dtype of a torch typed-storage class; only F32/F16/BF16 can be loaded, the rest are named in errors. */
export type TorchDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** A Map, not an object: `torch.constructor` / `torch.__proto__` must not pass an `in` check. */
const STORAGE_TYPES: ReadonlyMap<string, TorchDtype> = new Map([
  ['FloatStorage', 'F32'],
  ['HalfStorage', 'F16'],
  ['BFloat16Storage', 'BF16'],
  ['DoubleStorage', 'F64'],
  ['LongStorage', 'I64'],
  ['IntStorage', 'I32'],
  ['ShortStorage', 'I16'],
  ['CharStorage', 'I8'],
  ['ByteStorage', 'U8'],
  ['BoolStorage', 'BOOL'],
]);
const CALLABLES = new Set(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter']);

const MAX_STACK = 1 << 20;
const MAX_MEMO = 1 << 20;

class PyGlobal {
  constructor(readonly qualified: string) {}
}
class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}
/** dict / OrderedDict (insertion order kept). */
class PyDict {
  readonly map = new Map<string | number, PyValue>();
}
export class StorageRef {
  constructor(
    readonly dtype: TorchDtype,
    readonly key: string,
    readonly numel: number,
  ) {}
}
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}
export type PyValue = null | boolean | number | string | PyValue[] | PyTuple | PyDict | PyGlobal | StorageRef | TensorRef;

const MARK = Symbol('mark');

function describe(x: unknown): string {
  if (x === null) return 'None';
  if (x === MARK) return 'MARK';
  if (Array.isArray(x)) return 'list';
  if (x instanceof PyGlobal) return x.qualified;
  if (typeof x === 'object') return x.constructor.name;
  return typeof x;
}

/**
 * Interprets `bytes` (data.pkl) and returns the state dict as name → tensor reference. `hasStorage(key)` says
 * whether the archive holds `data/<key>`.
 */
export function unpickleStateDict(bytes: Uint8Array, file: string, hasStorage: (key: string) => boolean): Map<string, TensorRef> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const stack: (PyValue | typeof MARK)[] = [];
  const memo = new Map<number, PyValue>();
  const storages = new Map<string, StorageRef>();
  let pos = 0;
  let opPos = 0;

  const unsafe = (what: string) =>
    new FgClipError(
      'WEIGHTS_UNSAFE',
      `${file}: pickle byte ${opPos}: ${what}. Refusing to load: a state dict only needs tensor rebuilding; convert the checkpoint to safetensors if it is trusted.`,
    );
  const bad = (what: string) =>
    new FgClipError('WEIGHTS_MALFORMED', `${file}: pickle byte ${opPos}: ${what}. The checkpoint is damaged or not a torch.save state dict.`);

  const need = (n: number) => {
    if (pos + n > bytes.length) throw bad(`pickle ends inside an opcode argument (needs ${n} more bytes)`);
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const str = (n: number) => {
    need(n);
    try {
      return dec.decode(bytes.subarray(pos, (pos += n)));
    } catch {
      throw bad('string is not valid UTF-8');
    }
  };
  const line = () => {
    const n = bytes.subarray(pos, pos + 257).indexOf(0x0a);
    if (n < 0) throw bad('GLOBAL name is not a short newline-terminated line');
    const s = str(n);
    pos++;
    return s;
  };
  const push = (v: PyValue | typeof MARK) => {
    if (stack.length >= MAX_STACK) throw bad(`stack deeper than ${MAX_STACK}`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw bad('stack underflow');
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw bad('stack underflow');
    return v;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw bad('no MARK on the stack');
    const items = stack.splice(i + 1) as PyValue[];
    stack.pop();
    return items;
  };
  const put = (i: number) => {
    if (!memo.has(i) && memo.size >= MAX_MEMO) throw bad(`memo larger than ${MAX_MEMO} entries`);
    memo.set(i, top());
  };
  const get = (i: number) => {
    const v = memo.get(i);
    if (v === undefined) throw bad(`memo key ${i} was never stored`);
    push(v);
  };
  const global = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (CALLABLES.has(q) || (module === 'torch' && STORAGE_TYPES.has(name))) return new PyGlobal(q);
    throw unsafe(`global ${q} is not allowed`);
  };
  const setItems = (d: PyValue, kv: PyValue[]) => {
    if (!(d instanceof PyDict)) throw bad(`SETITEM(S) on ${describe(d)}, expected a dict`);
    if (kv.length % 2) throw bad('SETITEMS with an odd number of items');
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i];
      if (typeof k !== 'string' && typeof k !== 'number') throw bad(`dict key of type ${describe(k)}`);
      d.map.set(k, kv[i + 1]);
    }
  };

  for (;;) {
    opPos = pos;
    const op = u8();
    switch (op) {
      case 0x80: {
        // PROTO
        const v = u8();
        if (v < 2 || v > 5) throw bad(`pickle protocol ${v} (expected 2..5)`);
        break;
      }
      case 0x95:
        need(8);
        pos += 8;
        break; // FRAME: length only, frames are not needed to interpret
      case 0x7d:
        push(new PyDict());
        break; // EMPTY_DICT
      case 0x5d:
        push([]);
        break; // EMPTY_LIST
      case 0x29:
        push(new PyTuple([]));
        break; // EMPTY_TUPLE
      case 0x28:
        push(MARK);
        break; // MARK
      case 0x58:
        push(str(u32()));
        break; // BINUNICODE
      case 0x8c:
        push(str(u8()));
        break; // SHORT_BINUNICODE
      case 0x4a:
        push(i32());
        break; // BININT
      case 0x4b:
        push(u8());
        break; // BININT1
      case 0x4d:
        push(u16());
        break; // BININT2
      case 0x8a: {
        // LONG1: little-endian two's complement
        const n = u8();
        if (n > 8) throw bad(`LONG1 of ${n} bytes`);
        need(n);
        let x = 0n;
        for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[pos + i]);
        if (n > 0 && bytes[pos + n - 1] & 0x80) x -= 1n << BigInt(8 * n);
        pos += n;
        if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < BigInt(Number.MIN_SAFE_INTEGER)) throw bad(`integer ${x} out of range`);
        push(Number(x));
        break;
      }
      case 0x47:
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break; // BINFLOAT (big-endian)
      case 0x88:
        push(true);
        break; // NEWTRUE
      case 0x89:
        push(false);
        break; // NEWFALSE
      case 0x4e:
        push(null);
        break; // NONE
      case 0x74:
        push(new PyTuple(popMark()));
        break; // TUPLE
      case 0x85:
        push(new PyTuple([pop()]));
        break; // TUPLE1
      case 0x86: {
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b]));
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b, c]));
        break;
      } // TUPLE3
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const kv = popMark();
        setItems(top(), kv);
        break;
      } // SETITEMS
      case 0x61: {
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw bad(`APPEND on ${describe(l)}`);
        l.push(v);
        break;
      } // APPEND
      case 0x65: {
        // APPENDS (a loop: spreading a huge list into push() overflows the stack)
        const vs = popMark();
        const l = top();
        if (!Array.isArray(l)) throw bad(`APPENDS on ${describe(l)}`);
        for (const v of vs) l.push(v);
        break;
      }
      case 0x71:
        put(u8());
        break; // BINPUT
      case 0x72:
        put(u32());
        break; // LONG_BINPUT
      case 0x94:
        put(memo.size);
        break; // MEMOIZE
      case 0x68:
        get(u8());
        break; // BINGET
      case 0x6a:
        get(u32());
        break; // LONG_BINGET
      case 0x63: {
        const m = line();
        push(global(m, line()));
        break;
      } // GLOBAL
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const m = pop();
        if (typeof m !== 'string' || typeof name !== 'string') throw bad('STACK_GLOBAL needs two strings');
        push(global(m, name));
        break;
      }
      case 0x52: {
        const args = pop();
        push(reduce(pop(), args));
        break;
      } // REDUCE
      case 0x62: {
        // BUILD: torch sets `_metadata` on the OrderedDict; we drop that state
        const state = pop();
        const target = top();
        if (!(target instanceof PyDict) || !(state === null || state instanceof PyDict)) throw unsafe(`BUILD of ${describe(target)} with ${describe(state)}`);
        break;
      }
      case 0x51:
        push(persistent(pop()));
        break; // BINPERSID
      case 0x2e: {
        // STOP
        return asStateDict(pop());
      }
      default:
        throw unsafe(`opcode 0x${op.toString(16).padStart(2, '0')} is not allowed`);
    }
  }

  function reduce(fn: PyValue, args: PyValue): PyValue {
    if (!(fn instanceof PyGlobal) || !CALLABLES.has(fn.qualified)) throw unsafe(`call of ${describe(fn)} is not allowed`);
    if (!(args instanceof PyTuple)) throw bad(`${fn.qualified} called with ${describe(args)} instead of a tuple`);
    const a = args.items;
    switch (fn.qualified) {
      case 'collections.OrderedDict':
        if (a.length !== 0) throw bad('OrderedDict called with arguments');
        return new PyDict();
      case 'torch._utils._rebuild_parameter': {
        if (a.length !== 3 || !(a[0] instanceof TensorRef)) throw bad('_rebuild_parameter(data, requires_grad, backward_hooks) expected');
        checkHooks(a[2]);
        return a[0];
      }
      default: // torch._utils._rebuild_tensor_v2
        return rebuildTensor(a);
    }
  }

  function checkHooks(h: PyValue): void {
    if (!(h instanceof PyDict) || h.map.size !== 0) throw unsafe('tensor with backward hooks');
  }

  function intList(x: PyValue, what: string): number[] {
    if (!(x instanceof PyTuple) || !x.items.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
      throw bad(`_rebuild_tensor_v2: ${what} must be a tuple of non-negative integers`);
    }
    return x.items as number[];
  }

  function rebuildTensor(a: readonly PyValue[]): TensorRef {
    if (a.length < 6 || a.length > 7) throw bad(`_rebuild_tensor_v2 with ${a.length} arguments (expected 6 or 7)`);
    const [storage, offset, sizeT, strideT, , hooks] = a;
    if (!(storage instanceof StorageRef)) throw bad(`_rebuild_tensor_v2: storage is ${describe(storage)}`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw bad('_rebuild_tensor_v2: bad storage offset');
    const size = intList(sizeT, 'size');
    const stride = intList(strideT, 'stride');
    if (stride.length !== size.length) throw bad(`_rebuild_tensor_v2: size has ${size.length} dims but stride ${stride.length}`);
    if (size.length > 16) throw bad(`_rebuild_tensor_v2: ${size.length} dimensions (at most 16)`);
    // A view never has more elements than its storage: stride-0 (expanded) views could otherwise make a tiny file
    // demand any amount of memory when copied out.
    const numel = size.reduce((a, d) => a * d, 1);
    if (numel > storage.numel) {
      throw bad(
        `tensor view of ${numel} elements (size [${size}], stride [${stride}]) over the ${storage.numel}-element storage ${storage.key}; a state dict never stores expanded views`,
      );
    }
    checkHooks(hooks);
    // the last element the view touches must lie inside the storage
    if (size.every((d) => d > 0)) {
      let last = offset;
      for (let i = 0; i < size.length; i++) last += (size[i] - 1) * stride[i];
      if (!(last < storage.numel))
        throw bad(`tensor view (offset ${offset}, size [${size}], stride [${stride}]) reads past its ${storage.numel}-element storage ${storage.key}`);
    }
    return new TensorRef(storage, offset, size, stride);
  }

  function persistent(pid: PyValue): StorageRef {
    if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      throw unsafe(`persistent id ${describe(pid)} is not a ('storage', type, key, location, numel) tuple`);
    }
    const [, type, key, location, numel] = pid.items;
    const dtype = type instanceof PyGlobal && type.qualified.startsWith('torch.') ? STORAGE_TYPES.get(type.qualified.slice(6)) : undefined;
    if (dtype === undefined) {
      throw unsafe(`persistent id storage type ${describe(type)}`);
    }
    if (typeof key !== 'string' || typeof location !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
      throw bad('persistent id fields must be (str key, str location, int numel)');
    }
    const seen = storages.get(key);
    if (seen) {
      if (seen.dtype !== dtype || seen.numel !== numel) throw bad(`storage ${key} declared twice with different type or size`);
      return seen;
    }
    if (!hasStorage(key)) throw bad(`persistent id points at storage ${JSON.stringify(key)}, but the archive has no data/${key} entry`);
    const s = new StorageRef(dtype, key, numel);
    storages.set(key, s);
    return s;
  }

  function asStateDict(root: PyValue): Map<string, TensorRef> {
    if (!(root instanceof PyDict)) throw bad(`top-level object is ${describe(root)}, expected a state dict (name → tensor)`);
    const out = new Map<string, TensorRef>();
    for (const [k, v] of root.map) {
      if (typeof k !== 'string' || !(v instanceof TensorRef)) {
        throw bad(`state dict entry ${JSON.stringify(k)} is ${describe(v)}, not a tensor (a training checkpoint wrapping the state dict is not supported)`);
      }
      out.set(k, v);
    }
    return out;
  }
}
