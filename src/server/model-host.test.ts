/**
 * The server with the model in a worker thread (ModelHost, what `fgclip serve` uses): the host's plans and tower
 * calls equal the in-process handle (max abs diff 1e-6), FG-CLIP 2 served through the host gives the goldens-v2
 * features and sigmoid probabilities (relative L2 / abs 1e-4, the goldens' tolerances), /health and /metrics answer
 * while a long vision batch runs and one-image requests queued meanwhile merge into batches (ordering only, no
 * timing thresholds: the numbers are in `npm run loadtest`), a closed host fails calls with DISPOSED, a busy port
 * is ADDRESS_IN_USE.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { isFgClipError } from '../errors.js';
import { FgClip } from '../model/handle.js';
import { relL2 } from '../test-util/goldens.js';
import { goldenV2Path, readGoldenV2Json } from '../test-util/goldens-v2.js';
import { ModelHost } from './model-host.js';
import { createServer, type FgClipServer } from './server.js';
import { catBytes, catDataUri, get, metricValue, post, TINY } from './test-helpers.js';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

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

  test('plans, texts and images through the worker equal the in-process handle (max abs diff 1e-6)', async () => {
    const texts = ['a photo of a cat', 'white cat sitting on a windowsill next to a potted plant'];
    const plan = await host.planTexts(texts, { mode: 'auto' });
    const viaHost = await host.runText([plan.ids[0]], plan.modes[0]);
    const direct = await local.runText([plan.ids[0]], plan.modes[0]);
    assert.ok(maxDiff(viaHost[0], direct[0]) <= 1e-6);
    const { pixels } = await local.preprocess(catBytes());
    const pooled = await host.preprocess(catBytes());
    assert.deepEqual(Array.from(pooled.pixels), Array.from(pixels), 'the pool decodes and resizes exactly as the handle');
    const a = await host.runVision(new Float32Array(pixels));
    const b = await local.runVision(new Float32Array(pixels));
    assert.ok(maxDiff(a.image[0], b.image[0]) <= 1e-6);
    assert.equal(a.dense[0].length, b.dense[0].length);
  });

  test('a served request through the host equals the handle’s encodeTexts / encodeImages (max abs diff 1e-6)', async () => {
    const server = createServer({ model: host, port: 0, log: false });
    const url = await server.listen();
    try {
      const t = await post(`${url}/v1/embeddings`, { input: ['a photo of a cat', 'a dog'] });
      assert.equal(t.status, 200);
      const want = await local.encodeTexts(['a photo of a cat', 'a dog']);
      t.json.data.forEach((d: { embedding: number[] }, i: number) => assert.ok(maxDiff(d.embedding, want.embeddings[i]) <= 1e-6));
      const im = await post(`${url}/v1/embeddings`, { modality: 'image', input: [catDataUri()] });
      assert.equal(im.status, 200);
      const [wi] = await local.encodeImages([catBytes()]);
      assert.ok(maxDiff(im.json.data[0].embedding, wi.embedding) <= 1e-6);
    } finally {
      await server.close();
    }
  });

  describe('served while busy', () => {
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
      let sent = false;
      // probes answered while the long request's batch was inside the model: /metrics says a batch is running and
      // none has finished, both before and after a /health probe (so all three were answered during that call)
      let answeredWhileBusy = 0;
      const singles: Promise<{ status: number }>[] = [];
      const inModel = async () => {
        const m = await get(`${url}/metrics`);
        assert.equal(m.status, 200);
        const text = m.json as string;
        return metricValue(text, 'fgclip_batches_running', { lane: 'image' }) === 1 && metricValue(text, 'fgclip_batch_size_count', { lane: 'image' }) === 0;
      };
      while (!longDone) {
        const before = await inModel();
        const h = await get(`${url}/health`);
        assert.equal(h.status, 200);
        const running = before && (await inModel());
        if (running) answeredWhileBusy++;
        if (!sent && running && answeredWhileBusy >= 2) {
          sent = true;
          for (let i = 0; i < 6; i++) singles.push(post(`${url}/v1/embeddings`, { modality: 'image', input: [img] }));
        }
      }
      assert.equal((await long).status, 200);
      assert.ok(answeredWhileBusy >= 1, '/health and /metrics answered while the 16-image batch was inside the model');
      (await Promise.all(singles)).forEach((a) => assert.equal(a.status, 200));
      if (singles.length > 0) {
        const m = (await get(`${url}/metrics`)).json as string;
        const batches = metricValue(m, 'fgclip_batch_size_count', { lane: 'image' });
        assert.equal(metricValue(m, 'fgclip_batch_size_sum', { lane: 'image' }), 16 + singles.length);
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

interface V2Cases {
  text_long: { lowered: string[]; features: number[][] };
  probs: { long: { text_long_rows: number[] } };
  end_to_end: {
    cases: {
      image: string;
      image_features: number[];
      spatial_shapes: [number, number];
      boxes_xyxy_pixels: [number, number, number, number][];
      region_features: number[][];
      card_long_probs: number[];
    }[];
  };
}

describe('FG-CLIP 2 served through the worker host (goldens-v2 tiny)', () => {
  const cases = readGoldenV2Json<V2Cases>('fgclip2-tiny.cases.json');
  let host: ModelHost;
  let server: FgClipServer;
  let url: string;
  before(async () => {
    host = await ModelHost.start(goldenV2Path('fgclip2-tiny'), { threads: 1, graphCache: false, preprocessThreads: 1 });
    server = createServer({ model: host, port: 0, log: false });
    url = await server.listen();
  });
  after(async () => {
    await server.close();
    await host.close();
  });

  test('long texts, the image (own NaFlex grid), its regions and the sigmoid probabilities equal the reference (1e-4)', async () => {
    const c = cases.end_to_end.cases.find((x) => x.image.endsWith('.png')) ?? cases.end_to_end.cases[0];
    const img = `data:image/png;base64,${readFileSync(goldenV2Path(c.image)).toString('base64')}`;
    const t = await post(`${url}/v1/embeddings`, { input: cases.text_long.lowered.slice(0, 2), text_mode: 'long', truncate: true });
    assert.equal(t.status, 200, JSON.stringify(t.json));
    t.json.data.forEach((d: { embedding: number[] }, i: number) =>
      assert.ok(
        relL2(
          Float32Array.from(d.embedding),
          cases.text_long.features[i].map((x, _, a) => x / Math.hypot(...a)),
        ) <= 1e-4,
        `long ${i}`,
      ),
    );
    const im = await post(`${url}/v1/embeddings`, { modality: 'image', input: [img] });
    assert.equal(im.status, 200, JSON.stringify(im.json));
    const norm = (v: number[]) => v.map((x) => x / Math.hypot(...v));
    assert.ok(relL2(Float32Array.from(im.json.data[0].embedding), norm(c.image_features)) <= 1e-4);
    const kept = c.boxes_xyxy_pixels.map((b, k) => [b, k] as const).filter(([b]) => b[2] > b[0] && b[3] > b[1] && b[2] > 0 && b[3] > 0);
    const r = await post(`${url}/v1/regions`, { image: img, boxes: kept.map(([b]) => b) });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    r.json.data.forEach((d: { embedding: number[] }, i: number) =>
      assert.ok(relL2(Float32Array.from(d.embedding), norm(c.region_features[kept[i][1]])) <= 1e-4, `region ${i}`),
    );
    const labels = cases.probs.long.text_long_rows.map((i) => cases.text_long.lowered[i]);
    const cl = await post(`${url}/v1/classify`, { images: [img], labels, text_mode: 'long', truncate: true });
    assert.equal(cl.status, 200, JSON.stringify(cl.json));
    assert.equal(cl.json.scoring, 'sigmoid');
    for (const l of cl.json.data[0].labels as { label: string; probability: number }[]) {
      const want = c.card_long_probs[labels.indexOf(l.label)];
      assert.ok(Math.abs(l.probability - want) <= 1e-4, `${l.label}: ${l.probability} vs ${want}`);
    }
  });
});
