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
    // the alternative is the 10 s timer: half of it tells them apart with the widest margin on a stalled machine
    assert.ok(performance.now() - t0 < 5000, 'did not wait for the 10 s timer');
    assert.deepEqual(out, [2, 4, 6, 8, 10, 12, 14, 16]);
    assert.deepEqual(batches, [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
  });

  test('maxBatchSize 1 and maxWaitMs 0 (no batching): one item per batch, concurrency 1 runs them one after another', async () => {
    const { batches, run } = recorder(2);
    let active = 0;
    let peak = 0;
    const b = new Batcher<number, number>({
      lane: 't',
      maxBatchSize: 1,
      maxWaitMs: 0,
      maxQueue: 100,
      run: async (x) => {
        active++;
        peak = Math.max(peak, active);
        try {
          return await run(x);
        } finally {
          active--;
        }
      },
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
    assert.ok(performance.now() - t0 < 5000, 'did not wait for maxWaitMs (10 s) after the first batch'); // half of it, as above
    assert.deepEqual(
      batches.map((x) => x.length),
      [16, 1],
    );
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
      lane: 't',
      maxBatchSize: 8,
      maxWaitMs: 10,
      maxQueue: 10,
      run: async (x) => {
        if (calls++ === 0) throw new Error('runtime exploded');
        return x;
      },
    });
    const r = await Promise.allSettled([b.submit([1]), b.submit([2])]);
    assert.deepEqual(
      r.map((x) => x.status),
      ['rejected', 'rejected'],
    );
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

  test('announced items (expect) hold a forming batch until they are submitted: four one-item requests arriving one by one share one batch', async () => {
    const { batches, run } = recorder(1);
    const b = new Batcher<number, number>({ lane: 'img', maxBatchSize: 16, maxWaitMs: 0, maxHoldMs: 60_000, maxQueue: 100, run });
    const tickets = [1, 2, 3, 4].map(() => b.expect(1)); // four requests' images start decoding
    assert.equal(b.expected, 4);
    const results: Promise<number[]>[] = [];
    for (const [i, t] of tickets.entries()) {
      results.push(b.submit([i + 1], { expected: t })); // decoded one after another
      assert.equal(b.active, i < 3 ? 0 : 1, 'held while announced items are still coming; leaves when the last one arrives');
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(results), [[2], [4], [6], [8]]);
    assert.deepEqual(batches, [[1, 2, 3, 4]]);
    tickets.forEach((t) => t.release());
    assert.equal(b.expected, 0);
  });

  test('without announcements the same arrivals leave one by one (what the hold fixes)', async () => {
    const { batches, run } = recorder(1);
    const b = new Batcher<number, number>({ lane: 'img', maxBatchSize: 16, maxWaitMs: 0, maxHoldMs: 60_000, maxQueue: 100, run });
    const results: Promise<number[]>[] = [];
    for (let i = 1; i <= 4; i++) {
      results.push(b.submit([i]));
      assert.equal(b.active, 1, 'an idle model starts at once');
      await results[i - 1];
    }
    assert.deepEqual(batches, [[1], [2], [3], [4]]);
  });

  test('a lone request never waits: its own announced items are all it expects', () => {
    const { run } = recorder(1);
    const b = new Batcher<number, number>({ lane: 'img', maxBatchSize: 16, maxWaitMs: 0, maxHoldMs: 60_000, maxQueue: 100, run });
    const t = b.expect(2);
    void b.submit([1, 2], { expected: t });
    assert.equal(b.active, 1, 'started synchronously');
    assert.equal(b.expected, 0);
    t.release();
  });

  test('release() of items that will not come (a decode failed) lets a held batch leave', async () => {
    const { batches, run } = recorder(1);
    const b = new Batcher<number, number>({ lane: 'img', maxBatchSize: 16, maxWaitMs: 0, maxHoldMs: 60_000, maxQueue: 100, run });
    const a = b.expect(1);
    const other = b.expect(3);
    const p = b.submit([7], { expected: a });
    assert.equal(b.active, 0, 'held for the other request');
    other.release();
    assert.equal(b.active, 1, 'released: leaves at once');
    assert.deepEqual(await p, [14]);
    assert.deepEqual(batches, [[7]]);
    other.release(); // twice is harmless
    assert.equal(b.expected, 0);
    a.release();
  });

  test('the hold is bounded (maxHoldMs) even if announced items never come, and a full batch never waits', async () => {
    const { batches, run } = recorder(1);
    const b = new Batcher<number, number>({ lane: 'img', maxBatchSize: 2, maxWaitMs: 0, maxHoldMs: 5, maxQueue: 100, run });
    const never = b.expect(10);
    const p = b.submit([1, 2]);
    assert.equal(b.active, 1, 'full: leaves at once');
    await p;
    assert.deepEqual(await b.submit([3]), [6], 'not full: leaves after maxHoldMs although 10 items are still announced');
    assert.deepEqual(batches, [[1, 2], [3]]);
    assert.ok(b.holdMs <= 5);
    never.release();
  });

  test('items announced while a batch runs join the next batch when it finishes, instead of one batch each', async () => {
    // a fake clock: the first model call takes 1000 ms, item 1 arrives 100 ms before it ends
    let clock = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const batches: number[][] = [];
    const b = new Batcher<number, number>({
      lane: 'img',
      maxBatchSize: 16,
      maxWaitMs: 0,
      maxHoldMs: 60_000,
      maxQueue: 100,
      now: () => clock,
      run: async (x) => {
        batches.push([...x]);
        if (batches.length === 1) await gate;
        return x;
      },
    });
    const first = b.submit([0]); // runs alone (nothing else announced), and blocks on the gate
    const tickets = [1, 2, 3].map(() => b.expect(1));
    clock = 900;
    const p1 = b.submit([1], { expected: tickets[0] });
    clock = 1000;
    release();
    await first;
    assert.equal(b.holdMs, 1000, 'bounded by the model call just measured');
    assert.equal(b.active, 0, 'the model is free, but item 1 (waited 100 ms) waits for the two announced items');
    const rest = [b.submit([2], { expected: tickets[1] }), b.submit([3], { expected: tickets[2] })];
    await Promise.all([p1, ...rest]);
    assert.deepEqual(batches, [[0], [1, 2, 3]]);
  });

  test('an item that already waited a whole model call does not wait again for announced items', async () => {
    let clock = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const batches: number[][] = [];
    const b = new Batcher<number, number>({
      lane: 'img',
      maxBatchSize: 16,
      maxWaitMs: 0,
      maxHoldMs: 60_000,
      maxQueue: 100,
      now: () => clock,
      run: async (x) => {
        batches.push([...x]);
        if (batches.length === 1) await gate;
        return x;
      },
    });
    const first = b.submit([0]);
    const tickets = [1, 2].map(() => b.expect(1));
    const p1 = b.submit([1], { expected: tickets[0] }); // queued at 0, while the model is busy
    clock = 1000;
    release();
    await first;
    assert.equal(b.active, 1, 'item 1 waited 1000 ms ≥ the hold (one model call): it leaves at once');
    await p1;
    assert.deepEqual(batches, [[0], [1]]);
    tickets.forEach((t) => t.release());
  });

  test('mergeSubmissions false: announcements are ignored (a batch holds one submission anyway)', () => {
    const { run } = recorder(1);
    const b = new Batcher<number, number>({ lane: 'img', maxBatchSize: 16, maxWaitMs: 0, maxHoldMs: 60_000, maxQueue: 100, mergeSubmissions: false, run });
    const other = b.expect(5);
    assert.equal(b.expected, 0);
    void b.submit([1]);
    assert.equal(b.active, 1);
    other.release();
  });

  test('invalid options are rejected at construction', () => {
    const run = async (x: number[]) => x;
    assert.throws(() => new Batcher({ lane: 't', maxBatchSize: 0, maxWaitMs: 0, maxQueue: 1, run }), BatcherOptionsError);
    assert.throws(() => new Batcher({ lane: 't', maxBatchSize: 1, maxWaitMs: -1, maxQueue: 1, run }), /maxWaitMs/);
    assert.throws(() => new Batcher({ lane: 't', maxBatchSize: 1, maxWaitMs: 0, maxQueue: 1.5, run }), /maxQueue/);
    assert.throws(() => new Batcher({ lane: 't', maxBatchSize: 1, maxWaitMs: 0, maxQueue: 1, concurrency: 0, run }), /concurrency/);
    assert.throws(() => new Batcher({ lane: 't', maxBatchSize: 1, maxWaitMs: 0, maxQueue: 1, maxHoldMs: -1, run }), /maxHoldMs/);
  });
});
