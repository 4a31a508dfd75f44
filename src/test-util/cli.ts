/** Runs the CLI in-process through main() with captured streams (tests only). */
import { Readable, Writable } from 'node:stream';
import { main } from '../cli/main.js';

export class Sink extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: unknown, _enc: BufferEncoding, cb: () => void): void {
    this.text += String(chunk);
    cb();
  }
}

/** `tty` makes stderr and stdin claim to be a terminal (progress output); `stdin` is what the command reads as standard input. */
export async function run(argv: string[], env: Record<string, string> = {}, tty = false, stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Sink();
  const stderr = new Sink(tty);
  const input = Object.assign(Readable.from([Buffer.from(stdin)]), { isTTY: tty });
  const code = await main(argv, { stdout, stderr, env, stdin: input });
  return { code, out: stdout.text, err: stderr.text };
}
