import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { goldenPath, maxAbsDiff, readGoldenJson } from '../test-util/goldens.js';
import { FgClipError } from '../errors.js';
import { batchPixelValues, decodeImage, loadAndPreprocess, preprocessImage, resizeForModel, toPixelValues } from './index.js';

interface Cases {
  mean: number[];
  std: number[];
  cases: Array<{ image: string; size: number; crop_uint8_hwc: string; pixel_values_f32_chw: string }>;
}
const golden = readGoldenJson<Cases>('preprocess_cases.json');
const norm = { mean: golden.mean, std: golden.std };

function readF32(rel: string): Float32Array {
  const b = readFileSync(goldenPath(rel));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

describe('file -> pixel_values, crop flow (decode + CLIPImageProcessor) vs *.f32', () => {
  for (const c of golden.cases) {
    test(`${c.image} @${c.size}: loadAndPreprocess(mode 'crop') max abs diff <= 1e-6`, async () => {
      const px = await loadAndPreprocess(goldenPath(c.image), { size: c.size, mode: 'crop', ...norm });
      const ref = readF32(c.pixel_values_f32_chw);
      const d = maxAbsDiff(px, ref);
      assert.ok(d <= 1e-6, `max abs diff ${d}`);
    });
  }
});

describe('file -> pixel_values, squash flow (model card) vs end_to_end goldens', () => {
  for (const model of ['tiny', 'small'] as const) {
    const file = `fgclip-${model}.cases.json`;
    const json = readGoldenJson<{ image_size: number; end_to_end: { cases: Array<{ image: string; squashed_uint8_first_row: number[][] }> } }>(file);
    const S = json.image_size;
    for (const c of json.end_to_end.cases) {
      test(`${c.image} -> ${S}: decoded+squashed first row identical to ${file}; pixel_values = normalize(squashed)`, async () => {
        const img = await decodeImage(goldenPath(c.image));
        const squashed = resizeForModel(img, S, 'squash');
        assert.deepEqual(Array.from(squashed.data.subarray(0, S * 3)), c.squashed_uint8_first_row.flat());
        // default mode is 'squash'
        const px = preprocessImage(img, { size: S, ...norm });
        assert.deepEqual(px, toPixelValues(squashed, norm));
        const fromFile = await loadAndPreprocess(goldenPath(c.image), { size: S, ...norm });
        assert.deepEqual(fromFile, px);
      });
    }
  }

  test('batch of two squashed images is [2,3,S,S] with each image in place', async () => {
    const S = 32;
    const a = await loadAndPreprocess(goldenPath('images/cat_dfclor.jpg'), { size: S, ...norm });
    const b = await loadAndPreprocess(goldenPath('images/tiny_7x5.png'), { size: S, ...norm });
    const batch = batchPixelValues([a, b], S);
    assert.equal(batch.length, 2 * 3 * S * S);
    assert.deepEqual(batch.subarray(3 * S * S), b);
  });
});

describe('pipeline errors', () => {
  const img = { width: 4, height: 4, data: new Uint8Array(48) };
  test("unknown mode -> INPUT_INVALID naming 'squash' | 'crop'", () => {
    assert.throws(
      () => preprocessImage(img, { size: 2, mode: 'fit' as never, ...norm }),
      (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID' && /squash/.test(e.message),
    );
  });
  test('missing options -> INPUT_INVALID (also async through loadAndPreprocess)', async () => {
    assert.throws(
      () => preprocessImage(img, undefined as never),
      (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID',
    );
    await assert.rejects(
      loadAndPreprocess(goldenPath('images/tiny_7x5.png'), null as never),
      (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID',
    );
  });
  test('size 0 -> INPUT_INVALID', () => {
    assert.throws(
      () => preprocessImage(img, { size: 0, ...norm }),
      (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID',
    );
  });
  test('missing file through loadAndPreprocess -> IMAGE_DECODE naming the file', async () => {
    await assert.rejects(
      loadAndPreprocess('/nonexistent/dir/photo.jpg', { size: 32, ...norm }),
      (e: unknown) => e instanceof FgClipError && e.code === 'IMAGE_DECODE' && e.message.includes('/nonexistent/dir/photo.jpg'),
    );
  });
});
