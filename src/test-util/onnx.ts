/** Reading built graphs back in tests: the float initializers of a `BuiltModel` (inline or external). */
import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import type { BuiltModel } from '../graph/onnx-builder.js';

const { onnx } = onnxProto;

/** Float (and float16) initializers of a built graph: name → bytes, in the graph's order. */
export function floatInitializers(built: BuiltModel): Map<string, Uint8Array> {
  const m = onnx.ModelProto.decode(built.model);
  const out = new Map<string, Uint8Array>();
  for (const t of m.graph?.initializer ?? []) {
    if (t.dataType !== onnx.TensorProto.DataType.FLOAT && t.dataType !== onnx.TensorProto.DataType.FLOAT16) continue;
    if (t.externalData && t.externalData.length > 0) {
      const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
      const at = Number(kv.get('offset'));
      assert.ok(built.weights, 'in-memory build');
      out.set(t.name ?? '', built.weights.subarray(at, at + Number(kv.get('length'))));
    } else out.set(t.name ?? '', t.rawData ?? new Uint8Array(0));
  }
  return out;
}

/** Initializer name → dims. */
export function initializerDims(built: BuiltModel): Map<string, number[]> {
  const m = onnx.ModelProto.decode(built.model);
  return new Map((m.graph?.initializer ?? []).map((t) => [t.name ?? '', (t.dims ?? []).map(Number)]));
}
