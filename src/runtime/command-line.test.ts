/**
 * A process whose command line is too long for onnxruntime-node's initialisation (it overflows the stack and the
 * process dies with SIGSEGV: ~29 kB on the 8 MB main thread, ~15 kB on a 4 MB worker thread) gets a typed RUNTIME
 * error from FgClip.load instead of the crash; both threads are run for real, in child processes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { goldenPath, REPO_ROOT } from '../test-util/goldens.js';
import { maxCommandLineBytes, STACK_BYTES_PER_COMMAND_LINE_BYTE } from './command-line.js';

test('the limits sit below the measured crash points (main 8 MB: 28–30 kB; worker 4 MB: 14–16 kB)', () => {
  assert.equal(maxCommandLineBytes(8 * 2 ** 20), 26214);
  assert.equal(maxCommandLineBytes(4 * 2 ** 20), 13107);
  assert.ok(STACK_BYTES_PER_COMMAND_LINE_BYTE > (8 * 2 ** 20) / 28000, 'more stack per byte than the ~290 measured');
  assert.equal(maxCommandLineBytes(undefined), undefined);
});

/** Loads the tiny model in a child process (main thread or a worker) whose command line carries `padding` bytes. */
function loadWithLongCommandLine(padding: number, inWorker: boolean) {
  const handle = JSON.stringify(join(REPO_ROOT, 'src/model/handle.ts'));
  // a worker does not inherit the tsx loader: import the TypeScript source through tsx's API there
  const importHandle = inWorker ? `(await import('tsx/esm/api')).tsImport(${handle}, ${JSON.stringify(`file://${REPO_ROOT}/`)})` : `import(${handle})`;
  const load = `const { FgClip } = await ${importHandle}; try { const m = await FgClip.load(${JSON.stringify(goldenPath('fgclip-tiny'))}); m.dispose(); console.log('loaded'); } catch (e) { console.log(e.code + ': ' + e.message); }`;
  const code = inWorker
    ? `import { Worker } from 'node:worker_threads'; const w = new Worker(${JSON.stringify(load)}, { eval: true }); w.on('error', (e) => console.log('worker error ' + e.message));`
    : load;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, 'x'.repeat(padding)], { cwd: REPO_ROOT, encoding: 'utf8' });
  return { status: r.status, signal: r.signal, out: r.stdout.trim(), err: r.stderr };
}

test('FgClip.load in a process with a 40 kB command line: RUNTIME error naming the cause, no SIGSEGV', () => {
  const r = loadWithLongCommandLine(40 * 1024, false);
  assert.equal(r.signal, null, r.err);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^RUNTIME: this process's command line is \d+ bytes; onnxruntime-node's initialisation overflows the main thread's stack \(8 MB\)/);
});

test('FgClip.load in a worker thread (4 MB stack) of a process with a 20 kB command line: RUNTIME error, no SIGSEGV', () => {
  const r = loadWithLongCommandLine(20 * 1024, true);
  assert.equal(r.signal, null, r.err);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^RUNTIME: .*overflows the worker thread's stack \(4 MB\)/);
});
