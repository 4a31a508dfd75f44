#!/usr/bin/env node
// The `fgclip` command. onnxruntime-node's native initialisation reads the process's own command line with a
// recursion whose depth grows with its length: a command line over ~29 kB overflows the 8 MB main-thread stack and
// the process dies with SIGSEGV (exit 139), even for a bare InferenceSession.create (measured on Node 20 with
// onnxruntime-node 1.30; a 4 MB stack fails at 16 kB). So a long command line is never given to the process that
// loads onnxruntime: this one re-executes itself with a short command line and passes the arguments through a pipe
// (fd 3, JSON), then mirrors the child's exit code or signal. stdin, stdout and stderr are shared with the child.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ARGV_FD_FLAG = '--argv-from-fd=3';
// well below the crash (~270 bytes of stack per command-line byte: 8 kB needs ~2.2 MB)
const MAX_COMMAND_LINE = 8 * 1024;

function commandLineBytes() {
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)].reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
}

async function run(argv) {
  // the reader went away (`fgclip embed … --jsonl | head -1`): stop quietly with the status of a SIGPIPE death
  process.stdout.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(128 + 13);
    throw e;
  });
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(argv);
}

function relaunch(argv) {
  // a terminal's Ctrl-C reaches the child directly (same process group); other signals are passed on. The handlers
  // are in place before the child exists: a signal that came between the spawn and them killed this process alone
  // and left the child running (an orphan). A handler runs from the event loop, so `child` is set by then.
  const interactive = process.stdin.isTTY || process.stderr.isTTY;
  let child;
  const forward = (sig) => () => {
    if (sig !== 'SIGINT' || !interactive) child.kill(sig);
  };
  const handlers = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((sig) => [sig, forward(sig)]);
  for (const [sig, h] of handlers) process.on(sig, h);
  child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ARGV_FD_FLAG], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  const channel = child.stdio[3];
  channel.on('error', () => undefined); // the child died before reading: its exit status says why
  channel.end(JSON.stringify(argv));
  child.on('exit', (code, signal) => {
    for (const [sig, h] of handlers) process.off(sig, h);
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
}

const args = process.argv.slice(2);
if (args.length === 1 && args[0] === ARGV_FD_FLAG) {
  let argv;
  try {
    argv = JSON.parse(readFileSync(3, 'utf8'));
  } catch (e) {
    process.stderr.write(`fgclip: error [INPUT_INVALID]: could not read the arguments from the parent process (${e.message})\n`);
    process.exit(1);
  }
  await run(argv);
} else if (commandLineBytes() > MAX_COMMAND_LINE) relaunch(args);
else await run(args);
