/**
 * lowerThreadPriority lowers the calling thread only (Linux, where nice values are per thread), never the process;
 * elsewhere it reports that it did nothing. The server's model and decode workers use it (model-host.ts), and the
 * ONNX Runtime session option that stops intra-op threads spinning is set from `spinning: false`.
 */
import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { sessionOptions } from '../runtime/session.js';

test('a worker thread lowers its own priority; the process (main thread) keeps its own', async () => {
  const before = getPriority();
  const api = new URL('./thread-priority.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(api)}); }).then(({ lowerThreadPriority }) => {
    const { readlinkSync } = require('node:fs');
    const { getPriority } = require('node:os');
    const applied = lowerThreadPriority(7);
    const tid = process.platform === 'linux' ? Number(readlinkSync('/proc/thread-self').split('/').pop()) : 0;
    require('node:worker_threads').parentPort.postMessage({ applied, nice: tid ? getPriority(tid) : null });
  });`;
  const w = new Worker(code, { eval: true });
  const r = await new Promise<{ applied: boolean; nice: number | null }>((ok, fail) => {
    w.once('message', ok);
    w.once('error', fail);
  });
  await w.terminate();
  if (process.platform === 'linux') {
    assert.equal(r.applied, true);
    assert.equal(r.nice, Math.max(7, before));
  } else {
    assert.equal(r.applied, false);
  }
  assert.equal(getPriority(), before, 'the process priority is unchanged');
});

test('sessionOptions: spinning false sets session.intra_op.allow_spinning = 0; absent leaves ONNX Runtime’s default', () => {
  assert.deepEqual(sessionOptions({ threads: 1, spinning: false }).extra, { session: { intra_op: { allow_spinning: '0' } } });
  assert.equal(sessionOptions({ threads: 1 }).extra, undefined);
});
