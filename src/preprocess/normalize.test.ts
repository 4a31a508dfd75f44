import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { goldenPath, maxAbsDiff, readGoldenJson } from '../test-util/goldens.js';
import { FgClipError } from '../errors.js';
import { batchPixelValues, toPixelValues } from './normalize.js';

interface Cases {
  mean: number[];
  std: number[];
  cases: Array<{ image: string; size: number; crop_uint8_hwc: string; pixel_values_f32_chw: string }>;
}
const golden = readGoldenJson<Cases>('preprocess_cases.json');

function readF32(rel: string): Float32Array {
  const b = readFileSync(goldenPath(rel));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

describe('toPixelValues vs CLIPImageProcessor pixel_values (*.f32)', () => {
  for (const c of golden.cases) {
    test(`${c.image} @${c.size}: from the golden crop, max abs diff <= 1e-6 (and bit-identical)`, () => {
      const S = c.size;
      const crop = new Uint8Array(readFileSync(goldenPath(c.crop_uint8_hwc)));
      const px = toPixelValues({ width: S, height: S, data: crop }, { mean: golden.mean, std: golden.std });
      const ref = readF32(c.pixel_values_f32_chw);
      assert.equal(px.length, 3 * S * S);
      assert.ok(maxAbsDiff(px, ref) <= 1e-6, `max abs diff ${maxAbsDiff(px, ref)}`);
      // numpy's float32 steps (rescale in float64 then cast, subtract and divide in float32) reproduce it exactly.
      assert.deepEqual(px, ref);
    });
  }

  test('layout is CHW and the formula is (x*rescale - mean)/std per channel (float64 check, 1e-6)', () => {
    // 2x1 image: pixel0 = (0, 128, 255), pixel1 = (255, 1, 64)
    const img = { width: 2, height: 1, data: Uint8Array.from([0, 128, 255, 255, 1, 64]) };
    const mean = [0.5, 0.25, 0.125];
    const std = [0.5, 2, 0.25];
    const px = toPixelValues(img, { mean, std, rescaleFactor: 1 / 255 });
    const expect = [
      (0 / 255 - 0.5) / 0.5,
      (255 / 255 - 0.5) / 0.5, // R plane
      (128 / 255 - 0.25) / 2,
      (1 / 255 - 0.25) / 2, // G plane
      (255 / 255 - 0.125) / 0.25,
      (64 / 255 - 0.125) / 0.25, // B plane
    ];
    assert.ok(maxAbsDiff(px, expect) <= 1e-6);
  });

  test('rescaleFactor is honoured (1.0 keeps 0..255)', () => {
    const px = toPixelValues(
      { width: 1, height: 1, data: Uint8Array.from([10, 20, 30]) },
      {
        mean: [0, 0, 0],
        std: [1, 1, 1],
        rescaleFactor: 1,
      },
    );
    assert.deepEqual(Array.from(px), [10, 20, 30]);
  });
});

describe('batchPixelValues', () => {
  test('concatenates [3,S,S] images into [B,3,S,S] in order', () => {
    const a = Float32Array.from({ length: 12 }, (_, i) => i);
    const b = Float32Array.from({ length: 12 }, (_, i) => 100 + i);
    const out = batchPixelValues([a, b], 2);
    assert.equal(out.length, 24);
    assert.deepEqual(Array.from(out.subarray(0, 12)), Array.from(a));
    assert.deepEqual(Array.from(out.subarray(12)), Array.from(b));
  });
});

describe('normalize errors are FgClipError(INPUT_INVALID)', () => {
  const img = { width: 1, height: 1, data: new Uint8Array(3) };
  const cfg = { mean: [0, 0, 0], std: [1, 1, 1] };
  const cases: Array<[string, () => unknown]> = [
    ['mean of length 2', () => toPixelValues(img, { ...cfg, mean: [0, 0] })],
    ['std with a zero', () => toPixelValues(img, { ...cfg, std: [1, 0, 1] })],
    ['NaN mean', () => toPixelValues(img, { ...cfg, mean: [0, Number.NaN, 0] })],
    ['non-finite rescale', () => toPixelValues(img, { ...cfg, rescaleFactor: Infinity })],
    ['data length mismatch', () => toPixelValues({ width: 2, height: 1, data: new Uint8Array(3) }, cfg)],
    ['undefined image', () => toPixelValues(undefined as never, cfg)],
    ['empty batch', () => batchPixelValues([], 2)],
    ['batch item of wrong size', () => batchPixelValues([new Float32Array(12), new Float32Array(11)], 2)],
    ['batch bad size', () => batchPixelValues([new Float32Array(12)], 0)],
  ];
  for (const [name, f] of cases) {
    test(name, () => {
      assert.throws(f, (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID');
    });
  }
});
