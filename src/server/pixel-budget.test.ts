/**
 * The global decoded-pixel budget: holds never exceed the total (peak ≤ total), waiters go first come first served,
 * an image larger than the whole budget runs alone, an aborted waiter leaves the queue; and in the server, several
 * concurrent requests with several images each under a budget of ONE image all succeed while the budget's peak
 * stays within it and images waited their turn (behaviour, not timing).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PixelBudget } from './pixel-budget.js';
import { catDataUri, post, start, type Running } from './test-helpers.js';

describe('PixelBudget', () => {
  test('holds stay within the total; FIFO; oversize runs alone; abort leaves the queue', async () => {
    const b = new PixelBudget(100);
    const r1 = await b.acquire(60);
    const order: string[] = [];
    const p2 = b.acquire(60).then((r) => {
      order.push('second');
      return r;
    });
    const ac = new AbortController();
    const p3 = b.acquire(10, ac.signal);
    const p4 = b.acquire(1e9).then((r) => {
      order.push('oversize');
      return r;
    });
    assert.equal(b.queued, 3, 'the small one waits behind the first waiter (no overtaking)');
    ac.abort(new Error('deadline'));
    await assert.rejects(p3, /deadline/);
    assert.equal(b.queued, 2);
    r1();
    const r2 = await p2;
    assert.equal(b.inUse, 60);
    r2();
    const r4 = await p4;
    assert.equal(b.inUse, 100, 'an image larger than the budget holds all of it, alone');
    r4();
    r4(); // idempotent
    assert.equal(b.inUse, 0);
    assert.deepEqual(order, ['second', 'oversize']);
    assert.ok(b.peak <= 100);
    assert.equal(b.waits, 3);
  });
});

describe('pixel budget across requests', () => {
  let r: Running;
  before(async () => {
    r = await start({ pixelBudget: 640 * 480 }); // exactly one golden cat photo
  });
  after(() => r.server.close());

  test('4 concurrent requests × 3 images under a one-image budget: all 200, peak ≤ budget, images waited', async () => {
    const img = catDataUri();
    const answers = await Promise.all(Array.from({ length: 4 }, () => post(`${r.url}/v1/embeddings`, { modality: 'image', input: [img, img, img] })));
    answers.forEach((a) => assert.equal(a.status, 200, JSON.stringify(a.json)));
    assert.ok(r.server.pixels.peak <= 640 * 480, `peak ${r.server.pixels.peak}`);
    assert.ok(r.server.pixels.waits > 0, 'images waited for the budget');
    assert.equal(r.server.pixels.inUse, 0, 'everything released');
  });
});
