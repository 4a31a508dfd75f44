/**
 * The ports and their implementations: each platform's implementation satisfies the port's interface (checked by the
 * type checker on the assignments below), and the Node ones behave as the port says on real inputs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FgClipError } from '../errors.js';
import { browserImageDecoder } from './browser/decode.js';
import { nodeFolder } from './node/folder.js';
import { nodeImageDecoder } from './node/image-decoder.js';
import { nodeRuntime } from './node/runtime.js';
import type { ImageDecoder, InferenceRuntime, ModelFolder } from './ports.js';
import { goldenPath } from '../test-util/goldens.js';
import { decodeImage } from '../preprocess/decode.js';
import { FgClip } from '../model/handle.js';
import { createPreprocessPool } from '../pipeline/index.js';
import { preprocessImage } from '../preprocess/pipeline.js';
import { decoded, grayDecoder, grayDecoderHere, grayImage } from '../test-util/gray-decoder.js';

const browserDecoder: ImageDecoder = browserImageDecoder('wasm');
const ports: [ImageDecoder, ImageDecoder, InferenceRuntime, ModelFolder] = [nodeImageDecoder, browserDecoder, nodeRuntime, nodeFolder('.')];

test('implementations conform to the ports (the typed assignments above are checked by npm run typecheck): Node runtime, folder, decoder; the browser decoder', () => {
  assert.equal(ports.length, 4);
  assert.equal(nodeRuntime.name, 'onnxruntime-node');
});

test('nodeImageDecoder: a golden PNG decodes to the same RGB pixels as decodeImage(path); garbage bytes → IMAGE_DECODE', async () => {
  const path = goldenPath('images', 'gray_50x50.png');
  const viaPort = await nodeImageDecoder.decode(new Uint8Array(readFileSync(path)));
  const direct = await decodeImage(path);
  assert.deepEqual([viaPort.width, viaPort.height], [direct.width, direct.height]);
  assert.ok(Buffer.from(viaPort.data).equals(Buffer.from(direct.data)));
  await assert.rejects(nodeImageDecoder.decode(new Uint8Array([1, 2, 3, 4])), (e: unknown) => e instanceof FgClipError && e.code === 'IMAGE_DECODE');
});

test('nodeFolder: absent file → undefined; a directory in place of a file → the limits code, naming the file', async () => {
  const folder = nodeFolder(goldenPath('fgclip-tiny'));
  assert.equal(await folder.readText('no-such-file.json', { what: 'x', code: 'CONFIG_INVALID' }), undefined);
  const cfg = await folder.readText('config.json', { what: 'config.json', code: 'CONFIG_INVALID' });
  assert.ok(cfg?.includes('vision_config'));
  const parent = nodeFolder(goldenPath());
  await assert.rejects(
    parent.readText('fgclip-tiny', { what: 'tokenizer.json', code: 'TOKENIZER_INVALID' }),
    (e: unknown) => e instanceof FgClipError && e.code === 'TOKENIZER_INVALID' && /is a directory/.test(e.message),
  );
});

test('the runtime is injected: FgClip.load({ runtime }) opens and runs both towers only through it, with the same embeddings as the default', async () => {
  const opened: string[] = [];
  let runs = 0;
  const counting: InferenceRuntime = {
    name: 'counting',
    async open(name, graph, opts) {
      opened.push(name);
      const s = await nodeRuntime.open(name, graph, opts);
      return {
        run: (feeds) => {
          runs++;
          return s.run(feeds);
        },
        release: () => s.release(),
      };
    },
  };
  const dir = goldenPath('fgclip-tiny');
  const injected = await FgClip.load(dir, { runtime: counting, graphCache: false, threads: 1 });
  const plain = await FgClip.load(dir, { graphCache: false, threads: 1 });
  try {
    const a = await injected.encodeTexts(['a photo of a cat']);
    const b = await plain.encodeTexts(['a photo of a cat']);
    assert.deepEqual(opened.sort(), ['text_model', 'vision_model']);
    assert.equal(runs, 1);
    assert.deepEqual([...a.embeddings[0]], [...b.embeddings[0]]);
  } finally {
    injected.dispose();
    plain.dispose();
  }
});

test('the image decoder is injected: FgClip.load({ decoder }) decodes paths and bytes only through it, in the worker pool too (imported there by module) or on the calling thread for a decoder workers cannot import', async () => {
  const dir = goldenPath('fgclip-tiny');
  const inputs = Array.from({ length: 40 }, (_, i) => (i % 2 ? new Uint8Array([i, 1, 2]) : `/no/such/dir/${'x'.repeat(i)}.jpg`));
  const want = (x: Uint8Array | string) => grayImage(typeof x === 'string' ? x.length : x[0]);
  for (const [what, decoder, workers] of [
    ['calling thread', grayDecoder, 0],
    ['worker pool (decoder imported by the workers)', grayDecoder, 2],
    ['worker pool (decoder without a worker module)', grayDecoderHere, 2],
  ] as const) {
    const m = await FgClip.load(dir, { decoder, graphCache: false, threads: 1, preprocessWorkers: workers, batchSize: 8 });
    try {
      const before = decoded.count;
      const got = await m.encodeImages(inputs);
      const ref = await m.encodeImages(inputs.map(want));
      // in the pool's workers the count is the worker's copy of the module: only calling-thread decoding counts here
      assert.equal(decoded.count - before, workers > 0 && decoder.worker ? 0 : inputs.length, what);
      got.forEach((g, i) => {
        assert.deepEqual([g.width, g.height], [9, 7], `${what} ${i}`);
        assert.deepEqual([...g.embedding], [...ref[i].embedding], `${what} ${i}`);
      });
      assert.deepEqual(await m.decode(inputs[1]), want(inputs[1]));
    } finally {
      m.dispose();
    }
  }
});

test('createPreprocessPool({ decoder }): workers decode with the injected decoder (bit-identical to decoding it here); a decoder naming no module is refused', async () => {
  const opts = { size: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
  const pool = await createPreprocessPool({ threads: 1, decoder: grayDecoder, ...opts });
  try {
    const r = await pool.run(new Uint8Array([77]));
    assert.deepEqual([r.width, r.height], [9, 7]);
    assert.deepEqual([...r.pixels], [...preprocessImage(grayImage(77), opts)]);
  } finally {
    await pool.close();
  }
  await assert.rejects(
    createPreprocessPool({ threads: 1, decoder: grayDecoderHere, ...opts }),
    (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID' && /bad decoder/.test(e.message),
  );
});
