/**
 * Server conventions over real HTTP (fgclip-tiny): the TEI/Cohere/infinity rerank shapes (scores = cosines of the
 * library's text embeddings, within 1e-6, best first, top_n), list-valued multipart fields (repeated parts, a JSON
 * list, or one plain "a,b" part for labels), and /v1/analyze: one vision pass per analysis (the image lane's
 * item count grows by exactly one) with the same classification, heatmap cosines and region ranking as the
 * separate routes (within 1e-6).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cosine } from '../postprocess/similarity.js';
import { catBytes, catDataUri, get, metricValue, post, start, tinyModel, type Running } from './test-helpers.js';

const close = (a: number, b: number, tol = 1e-6) => Math.abs(a - b) <= tol;

describe('server conventions', () => {
  let r: Running;
  before(async () => {
    r = await start();
  });
  after(() => r.server.close());

  test('POST /rerank (Cohere/infinity): results best first with index and relevance_score = cosine (1e-6), top_n, documents echoed', async () => {
    const docs = ['a kitten sleeping on a sofa', 'a red truck on a highway', { text: 'a white cat' }];
    const a = await post(`${r.url}/rerank`, { query: 'a photo of a cat', documents: docs, top_n: 2, return_documents: true });
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal(a.json.results.length, 2);
    const m = await tinyModel();
    const q = (await m.encodeTexts(['a photo of a cat'])).embeddings[0];
    const d = (await m.encodeTexts(['a kitten sleeping on a sofa', 'a red truck on a highway', 'a white cat'])).embeddings;
    const want = d.map((v, i) => ({ i, s: cosine(q, v) })).sort((x, y) => y.s - x.s);
    a.json.results.forEach((h: { index: number; relevance_score: number; document: { text: string } }, k: number) => {
      assert.equal(h.index, want[k].i);
      assert.ok(close(h.relevance_score, want[k].s), `${h.relevance_score} vs ${want[k].s}`);
      assert.equal(h.document.text, typeof docs[h.index] === 'string' ? docs[h.index] : (docs[h.index] as { text: string }).text);
    });
    assert.equal(typeof a.json.id, 'string');
    const v1 = await post(`${r.url}/v1/rerank`, { query: 'a photo of a cat', documents: ['a dog'] });
    assert.equal(v1.status, 200);
    assert.deepEqual(Object.keys(v1.json.results[0]).sort(), ['index', 'relevance_score']);
  });

  test('POST /rerank (TEI): {query, texts} → [{index, score, text}] best first; errors name the field', async () => {
    const a = await post(`${r.url}/rerank`, { query: 'a cat', texts: ['a truck', 'a kitten'], return_text: true });
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.ok(Array.isArray(a.json) && a.json.length === 2);
    assert.ok(a.json[0].score >= a.json[1].score);
    assert.equal(a.json[0].text, ['a truck', 'a kitten'][a.json[0].index]);
    const both = await post(`${r.url}/rerank`, { query: 'a cat', texts: ['a'], documents: ['b'] });
    assert.equal(both.status, 400);
    const long = await post(`${r.url}/rerank`, { query: 'a cat', texts: ['word '.repeat(400)] });
    assert.equal(long.status, 400, 'TEI: truncate defaults to false');
    assert.equal(long.json.error.param, 'texts[0]');
    const noQuery = await post(`${r.url}/rerank`, { documents: ['b'] });
    assert.equal(noQuery.status, 400);
    assert.equal(noQuery.json.error.param, 'query');
  });

  test('multipart list fields: repeated parts, a JSON list and one plain "a,b" part give the same labels', async () => {
    const send = async (labels: (f: FormData) => void) => {
      const f = new FormData();
      f.append('images', new Blob([new Uint8Array(catBytes())], { type: 'image/jpeg' }), 'cat.jpg');
      labels(f);
      const res = await fetch(`${r.url}/v1/classify`, { method: 'POST', body: f });
      return { status: res.status, json: await res.json() };
    };
    const repeated = await send((f) => {
      f.append('labels', 'a cat');
      f.append('labels', 'a dog');
    });
    const json = await send((f) => f.append('labels', JSON.stringify(['a cat', 'a dog'])));
    const commas = await send((f) => f.append('labels', 'a cat, a dog'));
    for (const x of [repeated, json, commas]) {
      assert.equal(x.status, 200, JSON.stringify(x.json));
      assert.deepEqual(x.json.data[0].labels.map((l: { label: string }) => l.label).sort(), ['a cat', 'a dog']);
    }
    // texts (captions) are never split at commas: one heatmap text
    const f = new FormData();
    f.append('image', new Blob([new Uint8Array(catBytes())], { type: 'image/jpeg' }), 'cat.jpg');
    f.append('texts', 'a cat, sitting');
    const h = await (await fetch(`${r.url}/v1/heatmap`, { method: 'POST', body: f })).json();
    assert.deepEqual(h.texts, ['a cat, sitting']);
  });

  test('POST /v1/analyze: one vision pass; classification, heatmaps and regions equal the separate routes (1e-6)', async () => {
    const labels = ['a photo of a cat', 'a photo of a dog'];
    const boxes = [[288, 72, 576, 456]];
    const itemsBefore = metricValue((await get(`${r.url}/metrics`)).json as string, 'fgclip_batch_size_sum', { lane: 'image' });
    const a = await post(`${r.url}/v1/analyze`, { image: catDataUri(), labels, boxes, heatmaps: 'json', truncate: true });
    assert.equal(a.status, 200, JSON.stringify(a.json));
    const itemsAfter = metricValue((await get(`${r.url}/metrics`)).json as string, 'fgclip_batch_size_sum', { lane: 'image' });
    assert.equal(itemsAfter - itemsBefore, 1, 'exactly one image went through the vision tower');
    const cls = await post(`${r.url}/v1/classify`, { images: catDataUri(), labels, text_mode: 'auto', truncate: true });
    assert.deepEqual(
      a.json.labels.map((l: { label: string }) => l.label),
      cls.json.data[0].labels.map((l: { label: string }) => l.label),
    );
    a.json.labels.forEach((l: { probability: number }, i: number) => assert.ok(close(l.probability, cls.json.data[0].labels[i].probability)));
    const hm = await post(`${r.url}/v1/heatmap`, { image: catDataUri(), texts: labels, text_mode: 'auto', truncate: true });
    a.json.heatmaps.forEach((h: { text: string; similarity: number[] }, i: number) => {
      assert.equal(h.text, labels[i]);
      h.similarity.forEach((v, k) => assert.ok(close(v, hm.json.similarity[i][k])));
    });
    const rg = await post(`${r.url}/v1/regions`, { image: catDataUri(), boxes, labels, truncate: true });
    assert.deepEqual(
      a.json.regions[0].labels.map((l: { label: string }) => l.label),
      rg.json.data[0].labels.map((l: { label: string }) => l.label),
    );
    assert.ok(close(a.json.regions[0].labels[0].probability, rg.json.data[0].labels[0].probability));
    const png = await post(`${r.url}/v1/analyze`, { image: catDataUri(), labels: 'a cat' });
    assert.equal(png.status, 200);
    assert.match(png.json.heatmaps[0].png, /^data:image\/png;base64,iVBOR/);
  });
});
