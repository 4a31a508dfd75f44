import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Batcher, BatcherClosedError, BatcherOptionsError, QueueFullError, type BatchInfo } from './batcher.js';

/** A batch function that records each batch and doubles its inputs after `delayMs`. */
function recorder(delayMs = 5) {
  const batches: number[][] = [];
  const run = async (items: number[]) => {
    batches.push([...items]);
    await sleep(delayMs);
    return items.map((x) => x * 2);
  };
  return { batches, run };
}

describe('Batcher', () => {
  test('concurrent submissions are merged into one batch within maxWaitMs, results routed back in order', async () => {
    const { batches, run } = recorder();
    const infos: BatchInfo[] = [];
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 16, maxWaitMs: 20, maxQueue: 100, run, onBatch: (i) => infos.push(i) });
    const [a, c, d] = await Promise.all([b.submit([1, 2]), b.submit([3]), b.submit([4, 5, 6])]);
    assert.deepEqual(a, [2, 4]);
    assert.deepEqual(c, [6]);
    assert.deepEqual(d, [8, 10, 12]);
    assert.deepEqual(batches, [[1, 2, 3, 4, 5, 6]]);
    assert.equal(infos.length, 1);
    assert.equal(infos[0].size, 6);
    assert.equal(infos[0].submissions, 3);
    assert.ok(infos[0].ok);
  });

  test('a full batch leaves at once without waiting maxWaitMs; larger submissions are split at maxBatchSize', async () => {
    const { batches, run } = recorder(1);
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 4, maxWaitMs: 10_000, maxQueue: 100, run });
    const t0 = performance.now();
    const out = await b.submit([1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(performance.now() - t0 < 1000, 'did not wait for the 10 s timer');
    assert.deepEqual(out, [2, 4, 6, 8, 10, 12, 14, 16]);
    assert.deepEqual(batches, [[1, 2, 3, 4], [5, 6, 7, 8]]);
  });

  test('maxBatchSize 1 and maxWaitMs 0 (no batching): one item per batch, concurrency 1 runs them one after another', async () => {
    const { batches, run } = recorder(2);
    let active = 0;
    let peak = 0;
    const b = new Batcher<number, number>({
      lane: 't', maxBatchSize: 1, maxWaitMs: 0, maxQueue: 100,
      run: async (x) => { active++; peak = Math.max(peak, active); try { return await run(x); } finally { active--; } },
    });
    const out = await Promise.all([1, 2, 3].map((x) => b.submit([x])));
    assert.deepEqual(out, [[2], [4], [6]]);
    assert.deepEqual(batches, [[1], [2], [3]]);
    assert.equal(peak, 1);
  });

  test('maxWaitMs 0: an idle model starts at once; items that queue while it is busy leave together when it finishes', async () => {
    const { batches, run } = recorder(30);
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 16, maxWaitMs: 0, maxQueue: 100, run });
    const first = b.submit([1]);
    const rest = [2, 3, 4].map((x) => b.submit([x]));
    await Promise.all([first, ...rest]);
    assert.deepEqual(batches, [[1], [2, 3, 4]]);
  });

  test('after a batch, waiting items leave at once even when maxWaitMs is long', async () => {
    const { batches, run } = recorder(20);
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 16, maxWaitMs: 10_000, maxQueue: 100, run });
    const t0 = performance.now();
    const first = b.submit(Array.from({ length: 16 }, (_, i) => i)); // full: leaves without waiting
    const second = b.submit([100]);
    await Promise.all([first, second]);
    assert.ok(performance.now() - t0 < 2000, 'did not wait for maxWaitMs after the first batch');
    assert.deepEqual(batches.map((x) => x.length), [16, 1]);
  });

  test('mergeSubmissions false: a batch holds one submission only (up to maxBatchSize), even with others waiting', async () => {
    const { batches, run } = recorder(2);
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 2, maxWaitMs: 0, maxQueue: 100, mergeSubmissions: false, run });
    const out = await Promise.all([b.submit([1, 2, 3]), b.submit([4]), b.submit([5, 6])]);
    assert.deepEqual(out, [[2, 4, 6], [8], [10, 12]]);
    assert.deepEqual(batches, [[1, 2], [3], [4], [5, 6]]);
  });

  test('stats record the sizes of the batches a submission travelled in', async () => {
    const { run } = recorder(1);
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 3, maxWaitMs: 5, maxQueue: 100, run });
    const stats = { batches: [] as number[] };
    await b.submit([1, 2, 3, 4], { stats });
    assert.deepEqual(stats.batches, [3, 1]);
  });

  test('bounded queue: QueueFullError when waiting items would exceed maxQueue; an empty queue still admits a large submission', async () => {
    const { run } = recorder(30);
    const b = new Batcher<number, number>({ lane: 'img', maxBatchSize: 1, maxWaitMs: 0, maxQueue: 2, run });
    const first = b.submit([1]); // starts running at once
    const queued = [b.submit([2]), b.submit([3])]; // wait: 2 items
    await assert.rejects(b.submit([4]), (e: unknown) => e instanceof QueueFullError && e.queued === 2 && e.maxQueue === 2 && /queue is full/.test(e.message));
    assert.deepEqual(await Promise.all([first, ...queued]), [[2], [4], [6]]);
    assert.deepEqual(await b.submit([1, 2, 3, 4, 5]), [2, 4, 6, 8, 10]);
  });

  test('abort while queued removes the items and rejects with the signal reason; other submissions are unaffected', async () => {
    const { batches, run } = recorder(20);
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 1, maxWaitMs: 0, maxQueue: 10, run });
    const first = b.submit([1]);
    const ac = new AbortController();
    const second = b.submit([2, 3], { signal: ac.signal });
    const third = b.submit([4]);
    assert.equal(b.queueDepth, 3);
    ac.abort(new Error('deadline'));
    await assert.rejects(second, /deadline/);
    assert.equal(b.queueDepth, 1);
    assert.deepEqual(await first, [2]);
    assert.deepEqual(await third, [8]);
    assert.deepEqual(batches, [[1], [4]]);
  });

  test('an already aborted signal rejects at once without queueing', async () => {
    const { batches, run } = recorder();
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 4, maxWaitMs: 0, maxQueue: 10, run });
    await assert.rejects(b.submit([1], { signal: AbortSignal.abort(new Error('gone')) }), /gone/);
    await b.idle();
    assert.deepEqual(batches, []);
  });

  test('a failing batch rejects every submission in it and the batcher keeps serving', async () => {
    let calls = 0;
    const b = new Batcher<number, number>({
      lane: 't', maxBatchSize: 8, maxWaitMs: 10, maxQueue: 10,
      run: async (x) => { if (calls++ === 0) throw new Error('runtime exploded'); return x; },
    });
    const r = await Promise.allSettled([b.submit([1]), b.submit([2])]);
    assert.deepEqual(r.map((x) => x.status), ['rejected', 'rejected']);
    assert.match(String((r[0] as PromiseRejectedResult).reason), /runtime exploded/);
    assert.deepEqual(await b.submit([5]), [5]);
  });

  test('a batch function returning the wrong number of outputs is reported as an error, not silently misrouted', async () => {
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 8, maxWaitMs: 0, maxQueue: 10, run: async () => [1] });
    await assert.rejects(b.submit([1, 2]), /returned 1 outputs for 2 inputs/);
  });

  test('close() rejects new work, idle() waits for queued and running work to finish', async () => {
    const { run } = recorder(20);
    const b = new Batcher<number, number>({ lane: 't', maxBatchSize: 1, maxWaitMs: 0, maxQueue: 10, run });
    const p = [b.submit([1]), b.submit([2])];
    b.close();
    await assert.rejects(b.submit([3]), BatcherClosedError);
    await b.idle();
    assert.deepEqual(await Promise.all(p), [[2], [4]]);
    assert.equal(b.queueDepth, 0);
    assert.equal(b.active, 0);
  });

  test('invalid options are rejected at construction', () => {
    const run = async (x: number[]) => x;
    assert.throws(() => new Batcher({ lane: 't', maxBatchSize: 0, maxWaitMs: 0, maxQueue: 1, run }), BatcherOptionsError);
    assert.throws(() => new Batcher({ lane: 't', maxBatchSize: 1, maxWaitMs: -1, maxQueue: 1, run }), /maxWaitMs/);
    assert.throws(() => new Batcher({ lane: 't', maxBatchSize: 1, maxWaitMs: 0, maxQueue: 1.5, run }), /maxQueue/);
    assert.throws(() => new Batcher({ lane: 't', maxBatchSize: 1, maxWaitMs: 0, maxQueue: 1, concurrency: 0, run }), /concurrency/);
  });
});
