/**
 * The AdamW update as WebAssembly SIMD (four float32 lanes): src/train/adamw.wat compiled by wabt (the test next to
 * this file recompiles the source and compares). Every operation is an IEEE float32 add, sub, mul, div or sqrt, the
 * same operations in the same order as the scalar loop of optimizer.ts, whose `Math.fround` after each float64
 * operation gives the correctly rounded float32 result: the two agree bit for bit (tested), and this one is about
 * 5× faster (BENCHMARKS.md, "Training step").
 */

/** adamw.wat as a binary module (447 bytes) */
export const ADAMW_WASM_BASE64 =
  'AGFzbQEAAAABEAFgDH9/f39/fX19fX19fQADAgEABQMBAEEHEgIGbWVtb3J5AgAFYWRhbXcAAAqFAwGCAwMDfwt7BH0gBf0TIQ8gBv0TIRAgB/0TIREgCP0TIRIgCf0TIRMgCv0TIRQgC/0TIRUgBEF8cSEOAkADQCAMIA5PDQEgDEECdCENIAEgDWr9AAQAIRYgAiANav0ABAAhFyADIA1q/QAEACEYIAAgDWr9AAQAIA/95gEhGSAXIBAgFiAX/eUB/eYB/eQBIRcgGCAR/eYBIBIgFiAW/eYB/eYB/eQBIRggAiANaiAX/QsEACADIA1qIBj9CwQAIAAgDWogGSAVIBcgGP3jASAT/ecBIBT95AH95wH95gH95AH9CwQAIAxBBGohDAwACwsCQANAIAwgBE8NASAMQQJ0IQ0gASANaioCACEaIAIgDWoqAgAhGyADIA1qKgIAIRwgACANaioCACAFlCEdIBsgBiAaIBuTlJIhGyAcIAeUIAggGiAalJSSIRwgAiANaiAbOAIAIAMgDWogHDgCACAAIA1qIB0gCyAbIByRIAmVIAqSlZSSOAIAIAxBAWohDAwACwsL';

/** float32 values per region of the module's memory (p, g, m and v regions, 1 MiB each) */
export const ADAMW_WASM_CHUNK = 1 << 18;

export interface AdamWKernel {
  /** updates p, m and v in place (the scalar factors as optimizer.ts computes them) */
  (
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    decay: number,
    w1: number,
    b2: number,
    c2: number,
    bc2: number,
    eps: number,
    negStep: number,
  ): void;
}

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The SIMD kernel, or undefined where WebAssembly SIMD is unavailable (then optimizer.ts runs its scalar loop). */
export function wasmAdamW(): AdamWKernel | undefined {
  if (typeof WebAssembly === 'undefined') return undefined;
  const bytes = decodeBase64(ADAMW_WASM_BASE64);
  if (!WebAssembly.validate(bytes)) return undefined;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  const memory = exports.memory as WebAssembly.Memory;
  const adamw = exports.adamw as (p: number, g: number, m: number, v: number, n: number, ...scalars: number[]) => void;
  const C = ADAMW_WASM_CHUNK;
  const heap = new Float32Array(memory.buffer, 0, 4 * C);
  return (p, g, m, v, decay, w1, b2, c2, bc2, eps, negStep) => {
    for (let a = 0; a < p.length; a += C) {
      const b = Math.min(p.length, a + C);
      const n = b - a;
      heap.set(p.subarray(a, b), 0);
      heap.set(g.subarray(a, b), C);
      heap.set(m.subarray(a, b), 2 * C);
      heap.set(v.subarray(a, b), 3 * C);
      adamw(0, 4 * C, 8 * C, 12 * C, n, decay, w1, b2, c2, bc2, eps, negStep);
      p.set(heap.subarray(0, n), a);
      m.set(heap.subarray(2 * C, 2 * C + n), a);
      v.set(heap.subarray(3 * C, 3 * C + n), a);
    }
  };
}
