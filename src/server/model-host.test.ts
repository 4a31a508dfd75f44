/**
 * The server with the model in a worker thread (ModelHost, what `fgclip serve` uses): same vectors as the
 * in-process handle (max abs diff 1e-6), /health and /metrics answer while a long vision batch runs (ordering only,
 * no timing thresholds: the numbers are in `npm run loadtest`), one-image requests that arrive while the model is
 * busy merge into one batch, a crashed/closed host fails calls with typed errors, a busy port is ADDRESS_IN_USE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FgClip } from '../model/handle.js';
import { isFgClipError } from '../errors.js';
import { ModelHost } from './model-host.js';
import { createServer, type FgClipServer } from './server.js';
import { catDataUri, get, metricValue, post, TINY } from './test-helpers.js';

describe('ModelHost: the model off the event loop', () => {
  let host: ModelHost;
  let local: FgClip;
  before(async () => {
    host = await ModelHost.start(TINY, { preprocessThreads: 1 });
    local = await FgClip.load(TINY);
  });
  after(async () => {
    await host.close();
    local.dispose();
  });

  test('texts and images through the worker equal the in-process handle (max abs diff 1e-6)', async () => {
    const texts = ['a photo of a cat', 'white cat sitting on a windowsill next to a potted plant'];
    const tok = await host.tokenize(texts, 'auto');
    const viaHost = await host.runText([tok.ids[0]], tok.modes[0]);
    const direct = await local.runText([tok.ids[0]], tok.modes[0]);
    assert.ok(Math.max(...viaHost[0].map((x, i) => Math.abs(x - direct[0][i]))) <= 1e-6);
    const { pixels } = await local.preprocess(Buffer.from(catDataUri().split(',')[1], 'base64'));
    const { pixels: pooled } = await host.preprocess(await (await import('../preprocess/index.js')).decodeImage(Buffer.from(catDataUri().split(',')[1], 'base64')));
    assert.deepEqual(Array.from(pooled), Array.from(pixels), 'the pool resizes exactly as the handle');
    const a = await host.runVision(new Float32Array(pixels));
    const b = await local.runVision(new Float32Array(pixels));
    assert.ok(Math.max(...a.image[0].map((x, i) => Math.abs(x - b.image[0][i]))) <= 1e-6);
    assert.equal(a.dense[0].length, b.dense[0].length);
  });

  describe('served', () => {
    let slowHost: ModelHost;
    let server: FgClipServer;
    let url: string;
    before(async () => {
      // a larger input resolution makes one vision batch long enough to overlap with other requests
      slowHost = await ModelHost.start(TINY, { imageSize: 320, preprocessThreads: 1 });
      server = createServer({ model: slowHost, port: 0, log: false, maxWaitMs: 0 });
      url = await server.listen();
    });
    after(async () => {
      await server.close();
      await slowHost.close();
    });

    test('/health and /metrics answer while a 16-image request runs; one-image requests queued meanwhile merge into batches', async () => {
      const img = catDataUri();
      let longDone = false;
      const long = post(`${url}/v1/embeddings`, { modality: 'image', input: Array.from({ length: 16 }, () => img) }).then((r) => {
        longDone = true;
        return r;
      });
      // wait until the long batch is inside the model (the image lane's queue has been taken)
      let sawBusy = false;
      let answeredWhileBusy = 0;
      const singles: Promise<unknown>[] = [];
      while (!longDone) {
        const h = await get(`${url}/health`);
        assert.equal(h.status, 200);
        const m = await get(`${url}/metrics`);
        assert.equal(m.status, 200);
        if (!longDone) answeredWhileBusy++;
        if (!sawBusy && metricValue(m.json as string, 'fgclip_batch_size_count', { lane: 'image' }) === 0 && answeredWhileBusy >= 2) {
          sawBusy = true;
          for (let i = 0; i < 6; i++) singles.push(post(`${url}/v1/embeddings`, { modality: 'image', input: [img] }));
        }
      }
      assert.equal((await long).status, 200);
      assert.ok(answeredWhileBusy >= 1, '/health and /metrics answered while the long request ran');
      const answers = (await Promise.all(singles)) as { status: number }[];
      answers.forEach((a) => assert.equal(a.status, 200));
      assert.equal(singles.length, 6, 'the one-image requests were sent while the long batch ran');
      {
        const m = (await get(`${url}/metrics`)).json as string;
        const batches = metricValue(m, 'fgclip_batch_size_count', { lane: 'image' });
        const items = metricValue(m, 'fgclip_batch_size_sum', { lane: 'image' });
        assert.equal(items, 16 + singles.length);
        assert.ok(batches - 1 < singles.length, `the ${singles.length} one-image requests ran in ${batches - 1} batches (merged)`);
      }
    });
  });

  test('a closed host fails calls with DISPOSED; a busy port is ADDRESS_IN_USE', async () => {
    const h = await ModelHost.start(TINY, { preprocessThreads: 1 });
    const s1 = createServer({ model: h, port: 0, log: false });
    const u = new URL(await s1.listen());
    const s2 = createServer({ model: h, port: Number(u.port), log: false });
    await assert.rejects(s2.listen(), (e: unknown) => isFgClipError(e) && e.code === 'ADDRESS_IN_USE' && /in use/.test(e.message));
    await s1.close();
    await h.close();
    await assert.rejects(h.runText([[49406, 49407]], 'short'), (e: unknown) => isFgClipError(e) && e.code === 'DISPOSED');
  });
});
