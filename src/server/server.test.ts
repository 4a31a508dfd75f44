/**
 * Every endpoint's happy path over real HTTP on loopback (fgclip-tiny), compared with the library's own results:
 * embeddings with encodeTexts / encodeImages (max abs diff ≤ 1e-6: the batcher may group rows differently from the
 * library, and float32 GEMM blocking can differ with batch shape), tasks with src/tasks, and the golden checkpoint
 * values (relative L2 ≤ 1e-4, the goldens' feature tolerance).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { l2normalize, cosine, softmax } from '../postprocess/similarity.js';
import { classifyImages } from '../tasks/classify.js';
import { heatmap as libHeatmap } from '../tasks/heatmap.js';
import { classifyRegions } from '../tasks/regions.js';
import { goldenPath, maxAbsDiff, readGoldenJson, relL2 } from '../test-util/goldens.js';
import type { FgClip } from '../model/handle.js';
import { CAT, catBytes, catDataUri, fromBase64, get, post, start, tinyModel, type Running } from './test-helpers.js';

const TOL = 1e-6;
const TEXTS = ['a photo of a cat', 'a photo of a dog', 'white cat'];

interface EndToEndCase {
  image: string;
  image_features: number[];
  boxes_pixels_xyxy: number[][];
  region_features: number[][];
}
interface Cases {
  text_short: { texts: string[]; features: number[][] };
  end_to_end: { cases: EndToEndCase[] };
}

describe('server endpoints (fgclip-tiny, loopback HTTP)', () => {
  let r: Running;
  let model: FgClip;
  before(async () => {
    model = await tinyModel();
    r = await start();
  });
  after(() => r.server.close());

  test('POST /v1/embeddings (texts, float): OpenAI shape, vectors equal to encodeTexts within 1e-6, usage counts tokens', async () => {
    const a = await post(`${r.url}/v1/embeddings`, { input: TEXTS, model: 'fgclip-tiny', user: 'someone' });
    assert.equal(a.status, 200);
    assert.equal(a.json.object, 'list');
    assert.equal(a.json.model, 'fgclip-tiny');
    const lib = await model.encodeTexts(TEXTS);
    assert.equal(a.json.data.length, TEXTS.length);
    a.json.data.forEach((d: { object: string; index: number; embedding: number[] }, i: number) => {
      assert.equal(d.object, 'embedding');
      assert.equal(d.index, i);
      assert.ok(maxAbsDiff(Float32Array.from(d.embedding), lib.embeddings[i]) <= TOL, `text ${i}`);
    });
    const tokens = lib.tokenCounts.reduce((x, y) => x + y, 0);
    assert.deepEqual(a.json.usage, { prompt_tokens: tokens, total_tokens: tokens });
  });

  test('POST /v1/embeddings with a single string input and encoding_format base64 decodes (LE float32) to the float answer', async () => {
    const f = await post(`${r.url}/v1/embeddings`, { input: 'a photo of a cat' });
    const b = await post(`${r.url}/v1/embeddings`, { input: 'a photo of a cat', encoding_format: 'base64' });
    assert.equal(b.status, 200);
    assert.equal(typeof b.json.data[0].embedding, 'string');
    const decoded = fromBase64(b.json.data[0].embedding);
    assert.deepEqual(decoded, Float32Array.from(f.json.data[0].embedding));
    assert.equal(decoded.length, model.embeddingDim);
  });

  test('POST /v1/embeddings long text: auto mode takes the 248-token path, as encodeTexts does (≤ 1e-6)', async () => {
    const long = Array.from({ length: 40 }, (_, i) => `word${i} and`).join(' ');
    const a = await post(`${r.url}/v1/embeddings`, { input: [long, 'short one'] });
    assert.equal(a.status, 200);
    const lib = await model.encodeTexts([long, 'short one']);
    assert.deepEqual(lib.modes, ['long', 'short']);
    a.json.data.forEach((d: { embedding: number[] }, i: number) => assert.ok(maxAbsDiff(Float32Array.from(d.embedding), lib.embeddings[i]) <= TOL));
    const forcedShort = await post(`${r.url}/v1/embeddings`, { input: 'short one', text_mode: 'long' });
    const libLong = await model.encodeTexts(['short one'], { mode: 'long' });
    assert.ok(maxAbsDiff(Float32Array.from(forcedShort.json.data[0].embedding), libLong.embeddings[0]) <= TOL);
  });

  test('POST /v1/embeddings images (data URI, raw base64, multipart upload) equal encodeImages within 1e-6', async () => {
    const [lib] = await model.encodeImages([CAT]);
    const viaUri = await post(`${r.url}/v1/embeddings`, { input: [catDataUri()], modality: 'image' });
    const viaRaw = await post(`${r.url}/v1/embeddings`, { input: catBytes().toString('base64'), modality: 'image', encoding_format: 'base64' });
    const form = new FormData();
    form.append('modality', 'image');
    form.append('input', new Blob([new Uint8Array(catBytes())], { type: 'image/jpeg' }), 'cat.jpg');
    const up = await fetch(`${r.url}/v1/embeddings`, { method: 'POST', body: form });
    const viaUpload = (await up.json()) as { data: { embedding: number[] }[]; usage: unknown };
    assert.equal(viaUri.status, 200);
    assert.equal(viaRaw.status, 200);
    assert.equal(up.status, 200);
    assert.ok(maxAbsDiff(Float32Array.from(viaUri.json.data[0].embedding), lib.embedding) <= TOL);
    assert.ok(maxAbsDiff(fromBase64(viaRaw.json.data[0].embedding), lib.embedding) <= TOL);
    assert.ok(maxAbsDiff(Float32Array.from(viaUpload.data[0].embedding), lib.embedding) <= TOL);
    assert.deepEqual(viaUri.json.usage, { prompt_tokens: 0, total_tokens: 0 });
  });

  test('golden checkpoint: image, region and short-text embeddings over HTTP match the reference (relative L2 ≤ 1e-4)', async () => {
    const cases = readGoldenJson<Cases>('fgclip-tiny.cases.json');
    for (const c of cases.end_to_end.cases) {
      const uri = `data:image/png;base64,${readFileSync(goldenPath(c.image)).toString('base64')}`;
      const e = await post(`${r.url}/v1/embeddings`, { input: uri, modality: 'image' });
      assert.equal(e.status, 200, c.image);
      assert.ok(relL2(e.json.data[0].embedding, l2normalize(Float32Array.from(c.image_features))) <= 1e-4, `${c.image} image`);
      const g = await post(`${r.url}/v1/regions`, { image: uri, boxes: c.boxes_pixels_xyxy });
      assert.equal(g.status, 200, `${c.image}: ${JSON.stringify(g.json)}`);
      g.json.data.forEach((d: { embedding: number[] }, k: number) =>
        assert.ok(relL2(d.embedding, l2normalize(Float32Array.from(c.region_features[k]))) <= 1e-4, `${c.image} box ${k}`),
      );
    }
    // the empty caption is left out: the API rejects empty strings (as OpenAI does), tested in server-errors
    const keep = cases.text_short.texts.map((_, i) => i).filter((i) => cases.text_short.texts[i] !== '');
    const e = await post(`${r.url}/v1/embeddings`, { input: keep.map((i) => cases.text_short.texts[i]), text_mode: 'short', truncate: true });
    assert.equal(e.status, 200, JSON.stringify(e.json));
    keep.forEach((i, k) => assert.ok(relL2(e.json.data[k].embedding, l2normalize(Float32Array.from(cases.text_short.features[i]))) <= 1e-4, `text ${i}`));
  });

  test('POST /v1/classify equals the library classifyImages (probabilities and cosines within 1e-6), ranked, with top_k', async () => {
    const labels = ['a cat', 'a dog', 'a laptop'];
    for (const templates of ['none', 'imagenet'] as const) {
      const a = await post(`${r.url}/v1/classify`, { images: [catDataUri(), catDataUri()], labels, templates });
      assert.equal(a.status, 200, JSON.stringify(a.json));
      const lib = await classifyImages(model, [catBytes()], labels, { templates, cache: false });
      assert.equal(a.json.data.length, 2);
      for (const d of a.json.data) {
        assert.equal(d.object, 'classification');
        assert.deepEqual(
          d.labels.map((l: { label: string }) => l.label),
          lib.results[0].labels.map((l) => l.label),
        );
        d.labels.forEach((l: { probability: number; cosine: number }, k: number) => {
          assert.ok(Math.abs(l.probability - lib.results[0].labels[k].probability) <= TOL);
          assert.ok(Math.abs(l.cosine - lib.results[0].labels[k].cosine) <= TOL);
        });
        const sum = d.labels.reduce((s: number, l: { probability: number }) => s + l.probability, 0);
        assert.ok(Math.abs(sum - 1) < 1e-9);
      }
      assert.ok(a.json.usage.prompt_tokens > 0);
    }
    const top = await post(`${r.url}/v1/classify`, { images: catDataUri(), labels, top_k: 1 });
    assert.equal(top.json.data[0].labels.length, 1);
  });

  test('POST /v1/heatmap JSON equals the library heatmap (cosines within 1e-6); format png is a PNG of the rendered figure', async () => {
    const texts = ['white cat', 'a keyboard'];
    const a = await post(`${r.url}/v1/heatmap`, { image: catDataUri(), texts });
    assert.equal(a.status, 200);
    const lib = await libHeatmap(model, CAT, texts);
    assert.deepEqual(a.json.grid, [...lib.grid]);
    assert.deepEqual(a.json.texts, texts);
    assert.deepEqual(a.json.image_size, [640, 480]);
    a.json.similarity.forEach((row: number[], i: number) => assert.ok(maxAbsDiff(row, lib.similarity[i]) <= TOL));
    const res = await fetch(`${r.url}/v1/heatmap`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: catDataUri(), texts, format: 'png' }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const png = Buffer.from(await res.arrayBuffer());
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  test('POST /v1/regions with labels equals classifyRegions (FG-OVD scale 100) within 1e-6', async () => {
    const boxes = [
      [0, 0, 320, 240],
      [300, 100, 640, 480],
    ];
    const labels = ['a cat', 'a dog'];
    const a = await post(`${r.url}/v1/regions`, { image: catDataUri(), boxes, labels });
    assert.equal(a.status, 200);
    const lib = await classifyRegions(model, CAT, boxes as [number, number, number, number][], labels);
    a.json.data.forEach((d: { box: number[]; labels: { label: string; probability: number; cosine: number }[] }, i: number) => {
      assert.deepEqual(d.box, boxes[i]);
      assert.deepEqual(
        d.labels.map((l) => l.label),
        lib[i].labels.map((l) => l.label),
      );
      d.labels.forEach((l, k) =>
        assert.ok(Math.abs(l.probability - lib[i].labels[k].probability) <= TOL && Math.abs(l.cosine - lib[i].labels[k].cosine) <= TOL),
      );
    });
  });

  test('POST /v1/regions without labels returns normalized region features equal to encodeImages boxes (≤ 1e-6)', async () => {
    const boxes = [[10, 20, 200, 300]] as const;
    const a = await post(`${r.url}/v1/regions`, { image: catDataUri(), boxes });
    const [lib] = await model.encodeImages([CAT], { boxes: [boxes] });
    assert.equal(a.status, 200);
    assert.ok(maxAbsDiff(Float32Array.from(a.json.data[0].embedding), (lib.regions ?? [])[0]) <= TOL);
  });

  test('POST /v1/rank: text query against image and text candidates, scores are cosines, sorted, with probabilities cross-modal', async () => {
    const gray = `data:image/png;base64,${readFileSync(goldenPath('images', 'gray_50x50.png')).toString('base64')}`;
    const a = await post(`${r.url}/v1/rank`, { query: 'a photo of a cat', candidates: [gray, catDataUri()], candidate_modality: 'image' });
    assert.equal(a.status, 200);
    const q = (await model.encodeTexts(['a photo of a cat'])).embeddings[0];
    const imgs = await model.encodeImages([goldenPath('images', 'gray_50x50.png'), CAT]);
    const cos = imgs.map((e) => cosine(q, e.embedding));
    const order = [0, 1].sort((x, y) => cos[y] - cos[x]);
    assert.deepEqual(
      a.json.data.map((d: { index: number }) => d.index),
      order,
    );
    const p = softmax(cos.map((c) => c * model.logitScale));
    a.json.data.forEach((d: { index: number; score: number; probability: number }) => {
      assert.ok(Math.abs(d.score - cos[d.index]) <= TOL);
      assert.ok(Math.abs(d.probability - p[d.index]) <= TOL);
    });
    const t = await post(`${r.url}/v1/rank`, { query: catDataUri(), query_modality: 'image', candidates: TEXTS, top_k: 2 });
    assert.equal(t.status, 200);
    assert.equal(t.json.data.length, 2);
    assert.ok(t.json.data[0].score >= t.json.data[1].score);
    const same = await post(`${r.url}/v1/rank`, { query: 'white cat', candidates: TEXTS });
    assert.equal(same.json.data[0].index, 2, 'a text is closest to itself');
    assert.equal(same.json.data[0].probability, undefined, 'no probabilities within one modality');
  });

  test('GET /health, GET /v1/models (OpenAI list shape), GET /metrics (Prometheus text)', async () => {
    const h = await get(`${r.url}/health`);
    assert.equal(h.status, 200);
    assert.equal(h.json.status, 'ok');
    const m = await get(`${r.url}/v1/models`);
    assert.equal(m.status, 200);
    assert.equal(m.json.object, 'list');
    assert.equal(m.json.data[0].id, 'fgclip-tiny');
    assert.equal(m.json.data[0].object, 'model');
    assert.equal(m.json.data[0].dimensions, model.embeddingDim);
    const res = await fetch(`${r.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of ['fgclip_http_requests_total', 'fgclip_http_request_duration_seconds', 'fgclip_batch_size', 'fgclip_queue_depth'])
      assert.match(text, new RegExp(`# TYPE ${name} `));
    assert.match(text, /fgclip_http_requests_total\{route="\/v1\/embeddings",method="POST",status="200"\} \d+/);
    assert.match(text, /fgclip_http_request_duration_seconds_bucket\{route="\/v1\/embeddings",status="200",le="\+Inf"\} \d+/);
    assert.match(text, /fgclip_queue_depth\{lane="image"\} 0/);
  });

  test('GET / serves the web page with a Content-Security-Policy; app.js and style.css are served', async () => {
    const page = await fetch(`${r.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.match(await page.text(), /<script type="module" src="\/app.js">/);
    assert.equal((await fetch(`${r.url}/app.js`)).status, 200);
    assert.equal((await fetch(`${r.url}/style.css`)).status, 200);
  });

  test('request log: one JSON line per request with method, route, status, ms and batch info', async () => {
    const before = r.logs.length;
    await post(`${r.url}/v1/embeddings`, { input: ['a', 'b'] });
    const lines = r.logs.slice(before).map((l) => JSON.parse(l));
    assert.equal(lines.length, 1);
    const l = lines[0];
    assert.equal(l.method, 'POST');
    assert.equal(l.route, '/v1/embeddings');
    assert.equal(l.status, 200);
    assert.equal(typeof l.ms, 'number');
    assert.equal(l.items, 2);
    assert.ok(Array.isArray(l.batches) && l.batches.length >= 1);
  });
});
