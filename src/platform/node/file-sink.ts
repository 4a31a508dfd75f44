/** Node's weight sink for the graph builder: streams each initializer into a file as it is registered. */
import { closeSync, openSync, writeSync } from 'node:fs';
import { align64, type WeightSink } from '../../graph/onnx-builder.js';

export class FileSink implements WeightSink {
  private size = 0;
  private readonly fd: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }
  write(bytes: Uint8Array): number {
    const at = align64(this.size);
    if (at > this.size) writeSync(this.fd, new Uint8Array(at - this.size));
    writeSync(this.fd, bytes);
    this.size = at + bytes.byteLength;
    return at;
  }
  finish(): undefined {
    closeSync(this.fd);
    return undefined;
  }
}
