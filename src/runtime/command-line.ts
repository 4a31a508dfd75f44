/**
 * onnxruntime-node's native initialisation reads the process's own command line with a recursion whose stack use
 * grows with the command line's length (measured on Node 20 with onnxruntime-node 1.30 on Linux: ~280–290 bytes of
 * stack per byte; the 8 MB main-thread stack overflows between 28 and 30 kB, a worker thread's default 4 MB between
 * 14 and 16 kB). The process then dies with SIGSEGV (exit 139) before anything can be caught. This check runs before
 * a session is created and turns that crash into a typed RUNTIME error. The fgclip CLI never hits it: bin/fgclip.js
 * re-executes itself with a short command line (the arguments through a pipe) when its command line is long.
 */
import { readFileSync } from 'node:fs';
import { isMainThread, resourceLimits } from 'node:worker_threads';
import { FgClipError } from '../errors.js';

/** Stack bytes assumed per command-line byte: above the measured ~290, so the refusal comes before the crash. */
export const STACK_BYTES_PER_COMMAND_LINE_BYTE = 320;

/** Bytes of the process's command line as the kernel reports it (/proc/self/cmdline), else from process.argv. */
function commandLineBytes(): number {
  try {
    return readFileSync('/proc/self/cmdline').length;
  } catch {
    return [process.execPath, ...process.execArgv, ...process.argv.slice(1)].reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  }
}

/** The calling thread's stack size in bytes (undefined: unlimited). */
function threadStackBytes(): number | undefined {
  if (!isMainThread) return (resourceLimits.stackSizeMb ?? 4) * 2 ** 20;
  try {
    const m = /^Max stack size\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? undefined : Number(m[1]);
  } catch {
    /* no /proc: assume the usual 8 MB */
  }
  return 8 * 2 ** 20;
}

/** The longest command line this thread's stack survives in onnxruntime-node's initialisation (undefined: no limit). */
export function maxCommandLineBytes(stackBytes: number | undefined): number | undefined {
  return stackBytes === undefined ? undefined : Math.floor(stackBytes / STACK_BYTES_PER_COMMAND_LINE_BYTE);
}

let verified = false;

/** Throws RUNTIME if creating an ONNX Runtime session in this process would crash on its command line's length. */
export function assertCommandLineFits(): void {
  if (verified || process.platform !== 'linux') return;
  const bytes = commandLineBytes();
  const max = maxCommandLineBytes(threadStackBytes());
  if (max !== undefined && bytes > max) {
    throw new FgClipError(
      'RUNTIME',
      `this process's command line is ${bytes} bytes; onnxruntime-node's initialisation overflows the ${isMainThread ? 'main' : 'worker'} thread's stack ` +
        `(${Math.round((threadStackBytes() ?? 0) / 2 ** 20)} MB) reading a command line over ~${max} bytes and the process would crash (SIGSEGV). ` +
        'Pass long inputs through a file or stdin instead of arguments (the fgclip CLI does this itself).',
    );
  }
  verified = true;
}
