/**
 * Concurrency behaviour over real HTTP on loopback (fgclip-tiny): dynamic batching merges concurrent requests,
 * a tiny queue sheds load with 503 + Retry-After and keeps serving, deadlines give 504 and withdraw queued work,
 * and close() lets an in-flight request finish. Where timing matters the model is wrapped so that its vision
 * tower takes a fixed extra time (the computed values are untouched).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FgClip } from '../model/handle.js';
import { catDataUri, get, metricValue, post, start, tinyModel } from './test-helpers.js';

/** The tiny model with `delayMs` added to every vision-tower call (and the batch sizes it saw recorded). */
async function slowModel(delayMs: number): Promise<{ model: FgClip; sizes: number[] }> {
  const model = await tinyModel();
  const sizes: number[] = [];
  const slow = Object.create(model, {
    runVision: {
      value: async (px: Float32Array) => {
        sizes.push(px.length / (3 * model.imageSize * model.imageSize));
        await sleep(delayMs);
        return model.runVision(px);
      },
    },
  }) as FgClip;
  return { model: slow, sizes };
}

/**
 * The tiny model whose vision-tower calls wait until `release()`: `entered` resolves at its first call, and the batch
 * sizes it saw are recorded. The tests below order events with it (a request in the model, another queued behind
 * it) instead of assuming that fixed sleeps outlast the server's work: after a stall of this process (the server
 * runs in it) a timer can fire before a request has even been read.
 */
async function gatedModel(): Promise<{ model: FgClip; sizes: number[]; entered: Promise<void>; release: () => void }> {
  const model = await tinyModel();
  const sizes: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let enter!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  const gated = Object.create(model, {
    runVision: {
      value: async (px: Float32Array) => {
        sizes.push(px.length / (3 * model.imageSize * model.imageSize));
        enter();
        await gate;
        return model.runVision(px);
      },
    },
  }) as FgClip;
  return { model: gated, sizes, entered, release };
}

/** Resolves once `cond()` holds (checked every 5 ms); the 30 s bound is only a watchdog against a hung test. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (const t0 = performance.now(); !cond(); await sleep(5)) assert.ok(performance.now() - t0 < 30_000, `still waiting for ${what}`);
}

/** Waits for `p`, failing if `first` settles before it (e.g. a request answered before it reached the model). */
function beforeAnswer<T>(p: Promise<T>, first: Promise<{ status: number }>, what: string): Promise<T> {
  return Promise.race([p, first.then((a) => Promise.reject(new Error(`${what}: the request was answered (${a.status}) first`)))]);
}

describe('dynamic batching', () => {
  test('concurrent single-text requests are merged: mean batch size > 1 with batching, exactly 1 without', async () => {
    const on = await start({ maxWaitMs: 40, maxBatchSize: 64 });
    const off = await start({ batching: false });
    try {
      for (const [r, merged] of [
        [on, true],
        [off, false],
      ] as const) {
        const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => post(`${r.url}/v1/embeddings`, { input: `caption number ${i}` })));
        assert.ok(answers.every((a) => a.status === 200));
        const text = (await get(`${r.url}/metrics`)).json as string;
        const count = metricValue(text, 'fgclip_batch_size_count', { lane: 'text-short' });
        const sum = metricValue(text, 'fgclip_batch_size_sum', { lane: 'text-short' });
        assert.equal(sum, 12);
        if (merged) assert.ok(sum / count > 1, `mean batch size ${sum / count} should be > 1`);
        else assert.equal(count, 12, 'one model call per request');
      }
      // the request logs show the shared batches too
      const logged = on.logs.map((l) => JSON.parse(l)).filter((l) => l.route === '/v1/embeddings');
      assert.ok(logged.some((l) => l.batches.some((b: number) => b > 1)));
    } finally {
      await on.server.close();
      await off.server.close();
    }
  });

  test('default maxWaitMs 0: images of requests that queue while the model is busy share a batch; results go back to the right request', async () => {
    const { model, sizes } = await slowModel(30);
    const r = await start({ model });
    try {
      const texts = ['a cat', 'a dog', 'a car', 'a tree', 'a house', 'a boat'];
      const single = await Promise.all(
        texts.map((t) => post(`${r.url}/v1/rank`, { query: catDataUri(), query_modality: 'image', candidates: [t, 'something else'] })),
      );
      const reference = await (await tinyModel()).encodeTexts(texts);
      const img = (await (await tinyModel()).encodeImages([Buffer.from(catDataUri().split(',')[1], 'base64')]))[0].embedding;
      single.forEach((a, i) => {
        const score = a.json.data.find((d: { index: number }) => d.index === 0).score;
        const expected = reference.embeddings[i].reduce((s, v, k) => s + v * img[k], 0);
        assert.ok(Math.abs(score - expected) <= 1e-6, `request ${i}`);
      });
      assert.ok(Math.max(...sizes) > 1, `image batches ${sizes.join(',')} should merge requests`);
    } finally {
      await r.server.close();
    }
  });
});

describe('overload and deadlines', () => {
  test('a tiny queue under concurrent load: some 503 with Retry-After, the rest 200, queue bounded, server alive and memory bounded', async () => {
    const { model } = await slowModel(25);
    const r = await start({ model, maxQueue: 2, maxBatchSize: 1, maxWaitMs: 0 });
    try {
      const rss0 = process.memoryUsage.rss();
      let maxDepth = 0;
      const poll = setInterval(() => (maxDepth = Math.max(maxDepth, ...r.server.engine.queueDepths().map((q) => q.depth))), 2);
      const img = catDataUri();
      const answers = await Promise.all(Array.from({ length: 40 }, () => post(`${r.url}/v1/embeddings`, { input: img, modality: 'image' })));
      clearInterval(poll);
      const busy = answers.filter((a) => a.status === 503);
      const ok = answers.filter((a) => a.status === 200);
      assert.equal(busy.length + ok.length, answers.length, `statuses: ${answers.map((a) => a.status).join(',')}`);
      assert.ok(busy.length > 0, 'some requests were shed');
      assert.ok(ok.length >= 3, 'the admitted ones were served');
      for (const b of busy) {
        assert.equal(b.headers.get('retry-after'), '1');
        assert.equal(b.json.error.code, 'QUEUE_FULL');
        assert.equal(b.json.error.type, 'overloaded_error');
      }
      assert.ok(maxDepth <= 2, `queue depth reached ${maxDepth}`);
      assert.equal((await get(`${r.url}/health`)).status, 200);
      assert.equal((await post(`${r.url}/v1/embeddings`, { input: img, modality: 'image' })).status, 200, 'serves again');
      assert.ok(process.memoryUsage.rss() - rss0 < 300 * 1024 * 1024, 'resident memory grew by less than 300 MB');
      const text = (await get(`${r.url}/metrics`)).json as string;
      assert.equal(metricValue(text, 'fgclip_http_requests_total', { route: '/v1/embeddings', status: '503' }), busy.length);
    } finally {
      await r.server.close();
    }
  });

  test('a request past its deadline → 504 TIMEOUT, and its queued items are withdrawn', async () => {
    // the first request holds the (gated) model past the deadline; the second queues behind it and expires there.
    // The deadline only has to outlast the work before the model (parse, decode): the model call ends at release()
    const { model, sizes, entered, release } = await gatedModel();
    const r = await start({ model, requestTimeoutMs: 1000, maxBatchSize: 1, maxWaitMs: 0 });
    try {
      const img = catDataUri();
      const a = post(`${r.url}/v1/embeddings`, { input: img, modality: 'image' });
      await beforeAnswer(entered, a, 'the first request in the model');
      const b = post(`${r.url}/v1/embeddings`, { input: img, modality: 'image' });
      for (const x of await Promise.all([a, b])) {
        assert.equal(x.status, 504);
        assert.equal(x.json.error.code, 'TIMEOUT');
        assert.equal(x.json.error.type, 'timeout_error');
      }
      release();
      await r.server.engine.idle();
      assert.equal(sizes.length, 1, 'the second request never reached the model');
      assert.deepEqual(
        r.server.engine.queueDepths().map((q) => q.depth),
        [0, 0, 0, 0],
      );
    } finally {
      release();
      await r.server.close();
    }
  });

  test('a client that disconnects while queued has its items withdrawn', async () => {
    const { model, sizes, entered, release } = await gatedModel();
    const r = await start({ model, maxBatchSize: 1, maxWaitMs: 0 });
    try {
      const img = catDataUri();
      const first = post(`${r.url}/v1/embeddings`, { input: img, modality: 'image' });
      await beforeAnswer(entered, first, 'the first request in the model');
      const ac = new AbortController();
      const second = fetch(`${r.url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: img, modality: 'image' }),
        signal: ac.signal,
      });
      await until(() => r.server.engine.queueDepths().some((q) => q.depth > 0), 'the second request queued');
      ac.abort();
      await assert.rejects(second);
      // the server sees the connection close, withdraws the items and logs the request (499), in that order
      await until(() => r.logs.some((l) => JSON.parse(l).status === 499), 'the request logged as 499 (client closed)');
      release();
      assert.equal((await first).status, 200);
      await r.server.engine.idle();
      assert.equal(sizes.length, 1);
    } finally {
      release();
      await r.server.close();
    }
  });
});

describe('graceful shutdown', () => {
  test('close() stops accepting, finishes the in-flight request (200), then closes; new connections are refused', async () => {
    const { model, entered, release } = await gatedModel();
    const r = await start({ model });
    const inflight = post(`${r.url}/v1/embeddings`, { input: catDataUri(), modality: 'image' });
    await beforeAnswer(entered, inflight, 'the request in the model');
    let closed = false;
    const closing = r.server.close().then(() => (closed = true));
    await assert.rejects(fetch(`${r.url}/health`), 'no new connections while draining');
    assert.equal(closed, false, 'close() waits for the request in the model');
    release();
    const a = await inflight;
    assert.equal(a.status, 200);
    assert.equal(a.json.data.length, 1);
    await closing;
    assert.ok(closed);
    await assert.rejects(fetch(`${r.url}/health`));
  });
});
