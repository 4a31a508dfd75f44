/**
 * A graph's external weights handed to onnxruntime-web without materialising the file in JS memory.
 *
 * onnxruntime-web's `externalData` takes the file's bytes (or a URL/Blob it reads whole with arrayBuffer()), keeps
 * them in a map while the session is created, and copies each initializer out of them into the wasm heap (or a GPU
 * buffer). Handing it the whole weights.bin meant the tower's weights were held twice during session creation: once
 * in that ArrayBuffer, once in the heap. In the non-JSPI builds we ship (plain wasm and the WebGPU asyncify build)
 * the copy reads the mounted bytes only through `byteLength` and `subarray(begin, end)`, synchronously, once per
 * initializer, in the thread that creates the session — our worker. So the bytes given here are a Uint8Array whose
 * `byteLength` is the Blob's size and whose `subarray` reads just that range from the Blob (an OPFS file or a file
 * the user picked) with FileReaderSync. The loader then holds one initializer's bytes at a time, which `WeightMeter`
 * counts (tests read the count; `info.memory` reports it).
 */
import { fileReaderSync } from './worker-types.js';

/** Bytes of weights the loader holds in JS memory, counted where it creates and drops them. */
export class WeightMeter {
  /** bytes held now */
  held = 0;
  /** the most held at once */
  peak = 0;
  /** bytes read in total */
  read = 0;
  /** sizes of the weight files read from */
  fileBytes = 0;
  largestFile = 0;
  take(n: number): void {
    this.held += n;
    this.read += n;
    if (this.held > this.peak) this.peak = this.held;
  }
  drop(n: number): void {
    this.held -= n;
  }
}

/**
 * The Blob as the Uint8Array onnxruntime-web mounts as an external data file: each `subarray(begin, end)` is read
 * from the Blob when asked; the previous range is dropped (onnxruntime copied it before asking for the next).
 * `release()` drops the last one.
 */
export function blobBytes(blob: Blob, meter: WeightMeter): Uint8Array & { release(): void } {
  const reader = fileReaderSync();
  const u = new Uint8Array(0);
  let out = 0;
  const release = () => {
    meter.drop(out);
    out = 0;
  };
  Object.defineProperties(u, {
    byteLength: { get: () => blob.size },
    length: { get: () => blob.size },
    subarray: {
      value: (begin = 0, end = blob.size): Uint8Array => {
        release();
        if (!(Number.isInteger(begin) && Number.isInteger(end) && begin >= 0 && begin <= end && end <= blob.size))
          throw new RangeError(`external data: range [${begin}, ${end}) outside a ${blob.size}-byte file`);
        const buf = reader.readAsArrayBuffer(blob.slice(begin, end));
        if (buf.byteLength !== end - begin) throw new RangeError(`external data: short read at ${begin} (${buf.byteLength} of ${end - begin} bytes)`);
        out = buf.byteLength;
        meter.take(out);
        return new Uint8Array(buf);
      },
    },
    release: { value: release },
  });
  return u as Uint8Array & { release(): void };
}
