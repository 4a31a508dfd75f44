/**
 * A small ONNX graph builder over the generated protobuf classes of `onnx-proto` (encoding is the library's job;
 * this file only assembles nodes). Weights are stored as external data in one contiguous buffer, so the graph
 * protobuf stays small (structure only) and can be handed to ONNX Runtime with
 * `externalData: [{ path: EXTERNAL_DATA_NAME, data }]` or written beside a cached `model.onnx`.
 *
 * Node names follow the reference module paths (`vision_model.encoder.layers.3.mlp.fc1`), so an ORT profile or a
 * Netron view maps one-to-one onto PyTorch's `named_modules()`.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const EXTERNAL_DATA_NAME = 'weights.bin';
const OPSET = 17;
const INLINE_BYTES = 64;
export const MS_DOMAIN = 'com.microsoft';

export type Dim = number | string;
export type ElemType = 'float' | 'float16' | 'double' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

const ELEM: Record<ElemType, number> = {
  float: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  double: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

export type AttrValue = number | string | number[] | { float: number } | { floats: number[] };

interface PendingInit {
  name: string;
  type: ElemType;
  dims: number[];
  /** inline bytes, or the place in the external weights */
  inline?: Uint8Array;
  offset?: number;
  length?: number;
}

/**
 * Where external weights go as they are registered: kept in memory (then handed to ONNX Runtime as a buffer) or
 * streamed to a file beside the model, so a large checkpoint is never held twice while its graph is built. This
 * file stays platform-free: file sinks are supplied by a platform (src/platform/node/file-sink.ts).
 */
export interface WeightSink {
  /** appends bytes at a 64-byte aligned offset and returns it */
  write(bytes: Uint8Array): number;
  /** the complete buffer (memory sink), or undefined when written to a file */
  finish(): Uint8Array | undefined;
}

class MemorySink implements WeightSink {
  private chunks: { at: number; bytes: Uint8Array }[] = [];
  private size = 0;
  write(bytes: Uint8Array): number {
    const at = align64(this.size);
    this.chunks.push({ at, bytes });
    this.size = at + bytes.byteLength;
    return at;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(Math.max(this.size, 1));
    for (const c of this.chunks) out.set(c.bytes, c.at);
    this.chunks = [];
    return out;
  }
}

export interface BuiltModel {
  /** the ModelProto, external data referencing EXTERNAL_DATA_NAME */
  readonly model: Uint8Array;
  /** the weights, 64-byte aligned per tensor; undefined when a file sink wrote them */
  readonly weights: Uint8Array | undefined;
}

export class GraphBuilder {
  private nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly inits: PendingInit[] = [];
  private readonly names = new Set<string>();
  /** node outputs renamed to graph outputs at build time (see `outputInPlace`) */
  private readonly renames = new Map<string, string>();
  private usesMs = false;

  constructor(
    private readonly graphName: string,
    private readonly sink: WeightSink = new MemorySink(),
  ) {}

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    this.claim(name);
    return name;
  }

  output(name: string, type: ElemType, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A float32 initializer (copied into the external buffer at build time). */
  weight(name: string, data: Float32Array, dims: readonly number[]): string {
    checkSize(name, data.length, dims);
    return this.raw(name, 'float', dims, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** A float32 array stored as a float16 initializer (round to nearest even). */
  float16(name: string, data: Float32Array, dims: readonly number[]): string {
    checkSize(name, data.length, dims);
    const h = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) h[i] = toHalf(data[i]);
    return this.raw(name, 'float16', dims, new Uint8Array(h.buffer));
  }

  int64(name: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    checkSize(name, values.length, dims);
    const a = BigInt64Array.from(values.map((v) => BigInt(v)));
    return this.raw(name, 'int64', dims, new Uint8Array(a.buffer));
  }

  scalar(name: string, value: number): string {
    return this.weight(name, Float32Array.of(value), []);
  }

  /**
   * Integer tensors (shapes, indices) and tiny constants stay inline (shape inference must read them); the rest
   * goes to the weight sink now, so the caller may drop its copy.
   */
  raw(name: string, type: ElemType, dims: readonly number[], bytes: Uint8Array): string {
    this.claim(name);
    const inline = (type !== 'float' && type !== 'float16') || bytes.byteLength <= INLINE_BYTES;
    if (inline) this.inits.push({ name, type, dims: [...dims], inline: bytes.slice() });
    else this.inits.push({ name, type, dims: [...dims], offset: this.sink.write(bytes), length: bytes.byteLength });
    return name;
  }

  /**
   * Adds a node named `name`; its outputs are `${name}/out` (or `${name}/out${i}` when several).
   * Returns the output names.
   */
  op(opType: string, name: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, nOut = 1, domain = ''): string[] {
    const outs = nOut === 1 ? [`${name}/out`] : Array.from({ length: nOut }, (_, i) => `${name}/out${i}`);
    for (const o of outs) this.claim(o);
    if (domain === MS_DOMAIN) this.usesMs = true;
    this.nodes.push({
      name,
      opType,
      domain,
      input: [...inputs],
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** `op` with a single output. */
  op1(opType: string, name: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.op(opType, name, inputs, attrs, 1, domain)[0];
  }

  /** Renames the value `from` to the graph output `to` with an Identity node. */
  /**
   * Declares the node output `from` as the graph output `to` without an Identity node: at build time the producing
   * node writes `to` directly (and its consumers read `to`). An Identity is a copy in ONNX Runtime, and a node
   * writing a graph output writes straight into a caller's pre-allocated output buffer. Falls back to `alias` when
   * `from` is not a top-level node's output (a graph input, an initializer) or is already an output.
   */
  outputInPlace(from: string, to: string, type: ElemType, dims: readonly Dim[]): void {
    const produced = this.nodes.some((n) => n.output?.includes(from));
    if (!produced || this.renames.has(from) || this.outputs.some((o) => o.name === from)) {
      this.alias(from, to);
    } else {
      this.claim(to);
      this.renames.set(from, to);
    }
    this.output(to, type, dims);
  }

  alias(from: string, to: string): string {
    this.claim(to);
    this.nodes.push({ name: `${to}/identity`, opType: 'Identity', input: [from], output: [to] });
    return to;
  }

  /**
   * An `If` node on the boolean scalar `cond`: each branch function adds its nodes (any value of this graph is
   * visible inside it, weights included, so a branch holds no copy of them) and returns its results, which become
   * the node's outputs named `outputs` (same element types in both branches; shapes may differ). Only the taken
   * branch runs.
   */
  ifElse(
    name: string,
    cond: string,
    outputs: readonly { name: string; type: ElemType; dims: readonly Dim[] }[],
    thenBranch: () => string[],
    elseBranch: () => string[],
  ): string[] {
    const branch = (label: 'then' | 'else', body: () => string[]): onnxProto.onnx.IGraphProto => {
      const outer = this.nodes;
      const inner: onnxProto.onnx.INodeProto[] = [];
      this.nodes = inner;
      try {
        const results = body();
        if (results.length !== outputs.length)
          throw new Error(`graph ${this.graphName}: ${name} ${label} branch gives ${results.length} values for ${outputs.length} outputs`);
        // a branch's outputs are produced inside it (an outer value is passed through an Identity)
        const outs = results.map((r, i) => this.alias(r, `${name}/${label}/out${i}`));
        return { name: `${name}/${label}`, node: inner, output: outs.map((o, i) => valueInfo(o, outputs[i].type, outputs[i].dims)) };
      } finally {
        this.nodes = outer;
      }
    };
    const T = onnx.AttributeProto.AttributeType;
    const thenGraph = branch('then', thenBranch);
    const elseGraph = branch('else', elseBranch);
    const outs = outputs.map((o) => o.name);
    for (const o of outs) this.claim(o);
    this.nodes.push({
      name,
      opType: 'If',
      input: [cond],
      output: outs,
      attribute: [
        { name: 'then_branch', type: T.GRAPH, g: thenGraph },
        { name: 'else_branch', type: T.GRAPH, g: elseGraph },
      ],
    });
    return outs;
  }

  build(): BuiltModel {
    if (this.renames.size > 0) renameValues(this.nodes, this.renames);
    const initializer = this.inits.map((t) => {
      if (t.inline) return onnx.TensorProto.create({ name: t.name, dims: t.dims, dataType: ELEM[t.type], rawData: t.inline });
      return onnx.TensorProto.create({
        name: t.name,
        dims: t.dims,
        dataType: ELEM[t.type],
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: EXTERNAL_DATA_NAME },
          { key: 'offset', value: String(t.offset) },
          { key: 'length', value: String(t.length) },
        ],
      });
    });
    const opsetImport = [{ domain: '', version: OPSET }];
    if (this.usesMs) opsetImport.push({ domain: MS_DOMAIN, version: 1 });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'fgclip',
      opsetImport,
      graph: { name: this.graphName, node: this.nodes, input: this.inputs, output: this.outputs, initializer },
    });
    return { model: onnx.ModelProto.encode(model).finish(), weights: this.sink.finish() };
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`graph ${this.graphName}: value name ${name} defined twice`);
    this.names.add(name);
  }
}

/** Renames values in node inputs and outputs, subgraphs (If branches) included. */
function renameValues(nodes: readonly onnxProto.onnx.INodeProto[], map: ReadonlyMap<string, string>): void {
  for (const n of nodes) {
    if (n.input) n.input = n.input.map((v) => map.get(v) ?? v);
    if (n.output) n.output = n.output.map((v) => map.get(v) ?? v);
    for (const a of n.attribute ?? []) {
      if (a.g?.node) renameValues(a.g.node, map);
      for (const g of a.graphs ?? []) if (g.node) renameValues(g.node, map);
    }
  }
}

/** `n` rounded up to a multiple of 64 (where sinks place each tensor). */
export function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

function checkSize(name: string, n: number, dims: readonly number[]): void {
  const want = dims.reduce((a, b) => a * b, 1);
  if (want !== n) throw new Error(`graph initializer ${name}: ${n} values for dims [${dims.join(', ')}]`);
}

function valueInfo(name: string, type: ElemType, dims: readonly Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: use { float } for non-integers`);
    return { name, type: T.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.FLOATS, floats: v.floats };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** float32 → IEEE half bits, round to nearest even, with subnormals, infinities and NaN. */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}
