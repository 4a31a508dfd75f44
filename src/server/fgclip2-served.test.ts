/**
 * Everything the server offers for v1, with an FG-CLIP 2 checkpoint (goldens-v2 fgclip2-tiny) served as `fgclip
 * serve` serves it: the model in its worker thread (ModelHost), over real HTTP. Each answer is compared with the
 * library on an in-process handle of the same checkpoint (abs 1e-5), and the text walks with the reference's own
 * features (goldens, relative L2 1e-4):
 *   /v1/embeddings text_mode short | box | long → the reference's three heads; a v1 model answers 400 for box
 *   /v1/classify   sigmoid probabilities (`scoring: "sigmoid"`), the model's own sigmoid(exp(t)·cos + b) per label
 *   /v1/heatmap    the image's own NaFlex grid; texts on the box path by default (the card's dense example), short
 *                  when asked; PNG figure
 *   /v1/regions    RoI features on the image's grid; labels through the box head (classifyRegions)
 *   /v1/rank       image → texts: the model's sigmoid per pair (`scoring: "sigmoid"`)
 *   /v1/analyze    classification, box-path heatmaps and region labels from ONE vision pass
 *   /v1/collection index (library, and an upload through /v1/collection/add) + text, image and region search
 *                  (box-path query) equal the library's search
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Collection } from '../collection/collection.js';
import { indexCollection } from '../collection/indexer.js';
import { searchCollection } from '../collection/search.js';
import { FgClip } from '../model/handle.js';
import { classifyRegions } from '../tasks/regions.js';
import { heatmap } from '../tasks/heatmap.js';
import { goldenV2Path, readGoldenV2Json } from '../test-util/goldens-v2.js';
import { ModelHost } from './model-host.js';
import { createServer, type FgClipServer } from './server.js';
import { get, metricValue, post, start } from './test-helpers.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip2-served-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

const CAT = goldenV2Path('images', 'cat_dfclor.jpg');
const catUri = () => `data:image/jpeg;base64,${readFileSync(CAT).toString('base64')}`;
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i], 0);
const norm = (v: readonly number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
function relL2(got: ArrayLike<number>, want: readonly number[]): number {
  let d = 0;
  let w = 0;
  for (let i = 0; i < want.length; i++) {
    d += (got[i] - want[i]) ** 2;
    w += want[i] ** 2;
  }
  return Math.sqrt(d / w);
}
function close(got: number, want: number, what: string, tol = 1e-5): void {
  assert.ok(Math.abs(got - want) <= tol, `${what}: ${got} vs ${want}`);
}

interface V2Cases {
  text_short: { lowered: string[]; features: number[][] };
  text_box: { lowered: string[]; features: number[][] };
  text_long: { lowered: string[]; features: number[][] };
  end_to_end: { cases: { image: string; spatial_shapes: [number, number] }[] };
}

describe('FG-CLIP 2 through the server (model in its worker thread)', () => {
  const cases = readGoldenV2Json<V2Cases>('fgclip2-tiny.cases.json');
  const photos = join(ROOT, 'photos');
  const uri = join(ROOT, 'coll');
  let lib: FgClip;
  let host: ModelHost;
  let coll: Collection;
  let server: FgClipServer;
  let url: string;
  before(async () => {
    lib = await FgClip.load(goldenV2Path('fgclip2-tiny'), { graphCache: false, preprocessWorkers: 0 });
    mkdirSync(photos);
    for (const f of readdirSync(goldenV2Path('images')).filter((x) => x.endsWith('.png'))) copyFileSync(goldenV2Path('images', f), join(photos, f));
    await indexCollection(lib, uri, [photos]);
    coll = await Collection.open(uri);
    host = await ModelHost.start(goldenV2Path('fgclip2-tiny'), { threads: 1, graphCache: false, preprocessThreads: 1 });
    server = createServer({ model: host, port: 0, host: '127.0.0.1', log: false, collection: coll, imageRoot: photos });
    url = await server.listen();
  });
  after(async () => {
    await server?.close();
    await host?.close();
    coll?.close();
    lib?.dispose();
  });

  test('/v1/embeddings: text_mode short, box and long are the reference heads (relative L2 1e-4)', async () => {
    for (const [mode, c] of [
      ['short', cases.text_short],
      ['box', cases.text_box],
      ['long', cases.text_long],
    ] as const) {
      const r = await post(`${url}/v1/embeddings`, { input: c.lowered.slice(0, 3), text_mode: mode, truncate: true });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      r.json.data.forEach((d: { embedding: number[] }, i: number) => assert.ok(relL2(d.embedding, norm(c.features[i])) <= 1e-4, `${mode} ${i}`));
    }
    const v1 = await start();
    try {
      const r = await post(`${v1.url}/v1/embeddings`, { input: ['a cat'], text_mode: 'box' });
      assert.equal(r.status, 400);
      assert.equal(r.json.error.code, 'INPUT_INVALID');
      assert.match(r.json.error.message, /no box/);
    } finally {
      await v1.server.close();
    }
  });

  test("/v1/classify: sigmoid probabilities, said in the answer, equal to the model's own", async () => {
    const labels = ['a cat', 'a black cat on a laptop', 'a red car', '一只猫'];
    const r = await post(`${url}/v1/classify`, { images: [catUri()], labels });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.scoring, 'sigmoid');
    const [img] = await lib.encodeImages([CAT]);
    const t = await lib.encodeTexts(labels, { mode: 'short' });
    const want = lib.probabilities(img.embedding, t.embeddings);
    const got = r.json.data[0].labels as { label: string; probability: number; cosine: number }[];
    assert.equal(got.length, labels.length);
    for (const l of got) close(l.probability, want[labels.indexOf(l.label)], l.label);
    for (let i = 1; i < got.length; i++) assert.ok(got[i - 1].probability >= got[i].probability, 'most probable first');
  });

  test("/v1/heatmap: the image's own grid, box-path texts by default (the card's dense example), short on request, PNG", async () => {
    const texts = ['white cat', '黑猫', 'window'];
    const grid = cases.end_to_end.cases.find((c) => c.image.endsWith('cat_dfclor.jpg'))?.spatial_shapes;
    const r = await post(`${url}/v1/heatmap`, { image: catUri(), texts });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.grid, grid);
    assert.deepEqual(r.json.image_size, [640, 480]);
    const box = await heatmap(lib, CAT, texts);
    const short = await heatmap(lib, CAT, texts, { mode: 'short' });
    assert.deepEqual(box.grid, grid);
    r.json.similarity.forEach((row: number[], k: number) => row.forEach((v, j) => close(v, box.similarity[k][j], `box ${k}/${j}`)));
    const boxText = (await lib.encodeTexts(texts, { mode: 'box' })).embeddings;
    const [d] = await lib.encodeImages([CAT], { dense: true });
    close(box.similarity[0][0], dot((d.dense as Float32Array[])[0], boxText[0]), 'the library heatmap is the box path');
    const rs = await post(`${url}/v1/heatmap`, { image: catUri(), texts, text_mode: 'short' });
    assert.equal(rs.status, 200);
    rs.json.similarity.forEach((row: number[], k: number) => row.forEach((v, j) => close(v, short.similarity[k][j], `short ${k}/${j}`)));
    assert.ok(Math.abs(rs.json.similarity[0][0] - r.json.similarity[0][0]) > 1e-4, 'short and box paths give different maps');
    const res = await fetch(`${url}/v1/heatmap`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: catUri(), texts: ['white cat'], format: 'png' }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual([...new Uint8Array(await res.arrayBuffer()).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  });

  test("/v1/regions: features on the image's grid, labels ranked through the box head", async () => {
    const boxes = [
      [0, 0, 320, 480],
      [300, 120, 640, 480],
    ];
    const labels = ['black cat', 'white cat', 'laptop'];
    const f = await post(`${url}/v1/regions`, { image: catUri(), boxes });
    assert.equal(f.status, 200, JSON.stringify(f.json));
    const [e] = await lib.encodeImages([CAT], { boxes: [boxes as [number, number, number, number][]] });
    f.json.data.forEach((d: { embedding: number[] }, i: number) =>
      assert.ok(relL2(d.embedding, Array.from((e.regions as Float32Array[])[i])) <= 1e-5, `region ${i}`),
    );
    const r = await post(`${url}/v1/regions`, { image: catUri(), boxes, labels });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const want = await classifyRegions(lib, CAT, boxes as [number, number, number, number][], labels);
    r.json.data.forEach((d: { labels: { label: string; probability: number; cosine: number }[] }, i: number) => {
      assert.deepEqual(
        d.labels.map((l) => l.label),
        want[i].labels.map((l) => l.label),
      );
      d.labels.forEach((l, k) => close(l.probability, want[i].labels[k].probability, `box ${i} ${l.label}`));
    });
    const boxText = (await lib.encodeTexts(labels, { mode: 'box' })).embeddings;
    const top = want[0].labels[0];
    close(top.cosine, dot((e.regions as Float32Array[])[0], boxText[labels.indexOf(top.label)]), 'region labels use the box head');
  });

  test("/v1/rank: image query against captions, scored by the model's sigmoid per pair", async () => {
    const candidates = ['a cat on a laptop', 'a street market', '一只猫'];
    const r = await post(`${url}/v1/rank`, { query: catUri(), query_modality: 'image', candidates });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.scoring, 'sigmoid');
    const [img] = await lib.encodeImages([CAT]);
    const t = await lib.encodeTexts(candidates);
    const want = lib.probabilities(img.embedding, t.embeddings);
    for (const h of r.json.data as { index: number; score: number; probability: number }[]) {
      close(h.score, dot(img.embedding, t.embeddings[h.index]), `cosine ${h.index}`);
      close(h.probability, want[h.index], `probability ${h.index}`);
    }
  });

  test('/v1/analyze: sigmoid classification, box-path heatmaps and region labels from one vision pass', async () => {
    const labels = ['white cat', 'black cat', 'window'];
    const boxes = [[300, 120, 640, 480]] as [number, number, number, number][];
    const imagesBefore = metricValue((await get(`${url}/metrics`)).json as string, 'fgclip_batch_size_sum', { lane: 'image' });
    const r = await post(`${url}/v1/analyze`, { image: catUri(), labels, boxes, heatmaps: 'json' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const imagesAfter = metricValue((await get(`${url}/metrics`)).json as string, 'fgclip_batch_size_sum', { lane: 'image' });
    assert.equal(imagesAfter - imagesBefore, 1, 'one vision pass');
    assert.equal(r.json.scoring, 'sigmoid');
    const [img] = await lib.encodeImages([CAT]);
    const want = lib.probabilities(img.embedding, (await lib.encodeTexts(labels)).embeddings);
    for (const l of r.json.labels as { label: string; probability: number }[]) close(l.probability, want[labels.indexOf(l.label)], l.label);
    const h = await heatmap(lib, CAT, labels);
    assert.deepEqual(r.json.grid, h.grid);
    r.json.heatmaps.forEach((m: { text: string; similarity: number[] }, k: number) => {
      assert.equal(m.text, labels[k]);
      m.similarity.forEach((v, j) => close(v, h.similarity[k][j], `heatmap ${k}/${j}`));
    });
    const reg = await classifyRegions(lib, CAT, boxes, labels);
    r.json.regions[0].labels.forEach((l: { label: string; probability: number }, k: number) => {
      assert.equal(l.label, reg[0].labels[k].label);
      close(l.probability, reg[0].labels[k].probability, `region ${l.label}`);
    });
    const png = await post(`${url}/v1/analyze`, { image: catUri(), labels });
    assert.equal(png.status, 200);
    assert.ok(png.json.heatmaps.every((m: { png: string }) => m.png.startsWith('data:image/png;base64,')));
  });

  test('/v1/collection: stats, text search and region search equal the library (scores 1e-5, same boxes)', async () => {
    const s = await get(`${url}/v1/collection`);
    assert.equal(s.status, 200);
    assert.equal(s.json.images, readdirSync(photos).length);
    assert.equal(s.json.model.dimensions, lib.embeddingDim);
    for (const regions of [false, true]) {
      const q = 'a small red square';
      const r = await post(`${url}/v1/collection/search`, { text: q, regions, top_k: 4 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const want = await searchCollection(lib, coll, { text: q }, { top: 4, regions });
      assert.deepEqual(
        r.json.results.map((x: { path: string }) => x.path),
        want.results.map((x) => x.path),
      );
      r.json.results.forEach((x: { score: number; box?: number[] }, i: number) => {
        close(x.score, want.results[i].score, `${regions ? 'region' : 'image'} hit ${i}`);
        if (regions) assert.deepEqual(x.box, want.results[i].box);
      });
    }
    const im = await post(`${url}/v1/collection/search`, { image: 'file:gradient_120x90.png', top_k: 1 });
    assert.equal(im.status, 200, JSON.stringify(im.json));
    assert.equal(im.json.results[0].path, join(photos, 'gradient_120x90.png'));
    close(im.json.results[0].score, 1, 'an image finds itself');
    // indexing through the server: the card's photo uploaded, then found by itself, by a caption and by a region
    const before = s.json.images as number;
    const add = await post(`${url}/v1/collection/add`, { images: [catUri()] });
    assert.equal(add.status, 200, JSON.stringify(add.json));
    assert.deepEqual([add.json.added, add.json.total], [1, before + 1]);
    const kept = add.json.paths[0] as string;
    const self = await post(`${url}/v1/collection/search`, { image: catUri(), top_k: 1 });
    assert.equal(self.json.results[0].path, kept);
    close(self.json.results[0].score, 1, 'the upload finds itself');
    const q = 'a black cat';
    const [t] = (await lib.encodeTexts([q])).embeddings;
    const [cat] = await lib.encodeImages([CAT]);
    const byText = await post(`${url}/v1/collection/search`, { text: q, top_k: before + 1 });
    const hit = (byText.json.results as { path: string; score: number }[]).find((x) => x.path === kept);
    close(hit?.score ?? Number.NaN, dot(t, cat.embedding), 'text search scores the upload with the model vectors');
    const byRegion = await post(`${url}/v1/collection/search`, { text: q, regions: true, top_k: 50 });
    const want = await searchCollection(lib, coll, { text: q }, { top: 50, regions: true });
    assert.deepEqual(
      byRegion.json.results.map((x: { path: string }) => x.path),
      want.results.map((x) => x.path),
    );
    assert.ok(
      want.results.some((x) => x.path === kept),
      'the upload has region rows',
    );
  });
});
