/**
 * The engine's image lane with a fake model: images announce themselves to the batcher when their decoding starts,
 * so one-image requests whose images leave the decode pool one or two at a time still share a model batch
 * (issue 10: "16 concurrent one-image requests → mean batch ≥ 4"). Decodes and model calls are driven by the test,
 * step by step: batch sizes are counted, nothing is timed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FgClipError } from '../errors.js';
import type { PreprocessedImage } from '../model/encoder.js';
import { Engine } from './engine.js';
import type { ServedModel } from './served-model.js';

const SIZE = 2;

/** A model whose decodes finish only when the test says so (FIFO, like the pool), and which counts vision batches. */
function fakeModel() {
  const decodes: { resolve: (p: PreprocessedImage) => void; reject: (e: unknown) => void }[] = [];
  const batches: number[] = [];
  const model: ServedModel = {
    info: {
      modelDir: '/fake',
      family: 'fgclip',
      embeddingDim: 2,
      imageSize: SIZE,
      grid: [1, 1],
      textLengths: { short: 77 },
      logitScale: 100,
      scoreKind: 'softmax',
      perImage: false,
      decode: {},
      preprocess: { size: SIZE, mode: 'squash', mean: [0, 0, 0], std: [1, 1, 1] },
    },
    planTexts: () => Promise.reject(new Error('no texts here')),
    runText: () => Promise.reject(new Error('no texts here')),
    runVision: async (pixels) => {
      const list = pixels instanceof Float32Array ? [pixels] : pixels;
      batches.push(list.length);
      return { image: list.map((p) => new Float32Array([1, p[0]])), dense: [] };
    },
    encodeDecoded: () => Promise.reject(new Error('square model')),
    preprocess: () => new Promise((resolve, reject) => decodes.push({ resolve, reject })),
    close: async () => undefined,
  };
  /** finishes the next `k` decodes (in the order they started), then lets everything that follows run */
  const decodeNext = async (k: number, value = 1) => {
    for (const d of decodes.splice(0, k)) d.resolve({ pixels: new Float32Array(3 * SIZE * SIZE).fill(value), width: 10, height: 10 });
    await new Promise((r) => setImmediate(r));
  };
  return { model, decodes, batches, decodeNext };
}

const image = () => new Uint8Array([1, 2, 3]);
const engine = (model: ServedModel, maxHoldMs: number) => new Engine(model, { enabled: true, maxBatchSize: 32, maxWaitMs: 0, maxQueue: 1024, maxHoldMs });

describe('Engine: images still decoding hold the forming batch', () => {
  test('16 concurrent one-image requests whose decodes finish two at a time share one model batch', async () => {
    const f = fakeModel();
    const e = engine(f.model, 60_000);
    const requests = Array.from({ length: 16 }, () => e.encodeImages([image()]));
    assert.equal(f.decodes.length, 16, 'all 16 decodes started');
    for (let i = 0; i < 8; i++) await f.decodeNext(2);
    const out = await Promise.all(requests);
    assert.deepEqual(f.batches, [16]);
    assert.equal(out.length, 16);
    for (const [enc] of out) assert.equal(enc.embedding.length, 2);
  });

  test('without the hold (maxHoldMs 0) the same arrivals give small batches: the first decoded image runs alone', async () => {
    const f = fakeModel();
    const e = engine(f.model, 0);
    const requests = Array.from({ length: 16 }, () => e.encodeImages([image()]));
    for (let i = 0; i < 8; i++) await f.decodeNext(2);
    await Promise.all(requests);
    assert.equal(
      f.batches.reduce((a, b) => a + b, 0),
      16,
    );
    assert.ok(f.batches.length >= 8, `one or two images per batch (${JSON.stringify(f.batches)})`);
  });

  test('results go back to the right request when merged', async () => {
    const f = fakeModel();
    const e = engine(f.model, 60_000);
    const requests = [0, 1, 2].map(() => e.encodeImages([image()]));
    await f.decodeNext(1, 0.25);
    await f.decodeNext(1, 0.5);
    await f.decodeNext(1, 0.75);
    const out = await Promise.all(requests);
    assert.deepEqual(f.batches, [3]);
    // the fake model's raw feature is [1, first pixel]; normalized: the second component identifies the image
    const second = out.map(([enc]) => enc.embedding[1]);
    assert.deepEqual(
      second,
      [0.25, 0.5, 0.75].map((v) => Math.fround(v / Math.hypot(1, v))),
    );
  });

  test('a request whose decode fails withdraws its announcement: the held batch of another leaves', async () => {
    const f = fakeModel();
    const e = engine(f.model, 60_000);
    const bad = e.encodeImages([image()]);
    const good = e.encodeImages([image()]);
    const [badDecode, goodDecode] = f.decodes.splice(0, 2);
    goodDecode.resolve({ pixels: new Float32Array(3 * SIZE * SIZE), width: 1, height: 1 });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(f.batches, [], 'held: the other image is still decoding');
    badDecode.reject(new FgClipError('IMAGE_DECODE', 'decodeImage(bytes): not an image'));
    await assert.rejects(bad, (err: unknown) => err instanceof FgClipError && err.code === 'IMAGE_DECODE');
    await good;
    assert.deepEqual(f.batches, [1]);
    assert.equal(e.lanes[3].queueDepth, 0);
  });

  test('a lone request is not held by its own images, and a multi-image request runs as one batch', async () => {
    const f = fakeModel();
    const e = engine(f.model, 60_000);
    const one = e.encodeImages([image(), image(), image()]);
    await f.decodeNext(1);
    await f.decodeNext(1);
    assert.deepEqual(f.batches, [], 'its own third image is still decoding');
    await f.decodeNext(1);
    await one;
    assert.deepEqual(f.batches, [3]);
  });
});
