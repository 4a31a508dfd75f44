import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { goldenPath, readGoldenJson } from '../test-util/goldens.js';
import { FgClipError } from '../errors.js';
import { resizeBicubic } from './resize.js';
import { centerCrop, resizeForModel, shortestEdgeSize } from './pipeline.js';
import type { RgbImage } from './types.js';

interface PreprocessCase {
  image: string;
  decoded_rgb: string;
  decoded_shape_hwc: [number, number, number];
  size: number;
  crop_uint8_hwc: string;
}
const cases = readGoldenJson<{ cases: PreprocessCase[] }>('preprocess_cases.json').cases;

function readU8(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(goldenPath(rel)));
}
function goldenRgb(c: PreprocessCase): RgbImage {
  const [h, w] = c.decoded_shape_hwc;
  return { width: w, height: h, data: readU8(c.decoded_rgb) };
}
function countDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/**
 * Independent float64 reading of Pillow's Resample.c, written the slow obvious way: per output sample, recompute
 * the window and weights, normalize, convert each weight to 22-bit fixed point, sum, floor-divide by 2^22, clamp.
 * Kept separate from resize.ts on purpose (no shared helpers), so a slip in one shows up as a mismatch.
 */
function referenceResize(img: RgbImage, outW: number, outH: number): RgbImage {
  const cubic = (x: number): number => {
    const ax = Math.abs(x);
    if (ax < 1) return (1.5 * ax - 2.5) * ax * ax + 1;
    if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * -0.5;
    return 0;
  };
  const taps = (inSize: number, outSize: number, i: number): Array<[number, number]> => {
    const scale = inSize / outSize;
    const fs = Math.max(scale, 1);
    const support = 2 * fs;
    const center = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const raw: Array<[number, number]> = [];
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const w = cubic((j - center + 0.5) * (1 / fs));
      raw.push([j, w]);
      sum += w;
    }
    return raw.map(([j, w]) => {
      const k = sum !== 0 ? w / sum : w;
      return [j, k < 0 ? Math.trunc(k * 4194304 - 0.5) : Math.trunc(k * 4194304 + 0.5)];
    });
  };
  const fixed = (acc: number): number => Math.min(255, Math.max(0, Math.floor(acc / 4194304)));
  let { width: W, height: H } = img;
  let px = Array.from(img.data);
  if (outW !== W) {
    const next: number[] = new Array(outW * H * 3);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < outW; x++) {
        const t = taps(W, outW, x);
        for (let c = 0; c < 3; c++) {
          let acc = 2097152;
          for (const [j, k] of t) acc += px[(y * W + j) * 3 + c] * k;
          next[(y * outW + x) * 3 + c] = fixed(acc);
        }
      }
    px = next;
    W = outW;
  }
  if (outH !== H) {
    const next: number[] = new Array(W * outH * 3);
    for (let y = 0; y < outH; y++) {
      const t = taps(H, outH, y);
      for (let x = 0; x < W; x++)
        for (let c = 0; c < 3; c++) {
          let acc = 2097152;
          for (const [j, k] of t) acc += px[(j * W + x) * 3 + c] * k;
          next[(y * W + x) * 3 + c] = fixed(acc);
        }
    }
    px = next;
    H = outH;
  }
  return { width: W, height: H, data: Uint8Array.from(px) };
}

/** Deterministic PRNG (mulberry32) so failures are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randomImage(r: () => number, w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  // Mix of noise and hard edges: extremes exercise the clamp at 0 and 255.
  for (let i = 0; i < data.length; i++) data[i] = r() < 0.3 ? (r() < 0.5 ? 0 : 255) : Math.floor(r() * 256);
  return { width: w, height: h, data };
}

describe('resizeBicubic vs Pillow goldens', () => {
  for (const c of cases) {
    test(`crop flow ${c.image} @${c.size}: shortest-edge PIL bicubic + center crop identical to ${c.crop_uint8_hwc}`, () => {
      const out = resizeForModel(goldenRgb(c), c.size, 'crop');
      assert.equal(out.width, c.size);
      assert.equal(out.height, c.size);
      assert.equal(countDiff(out.data, readU8(c.crop_uint8_hwc)), 0);
    });
  }

  for (const model of ['tiny', 'small'] as const) {
    const file = `fgclip-${model}.cases.json`;
    const json = readGoldenJson<{ image_size: number; end_to_end: { cases: Array<{ image: string; squashed_uint8_first_row: number[][] }> } }>(file);
    const S = json.image_size;
    for (const c of json.end_to_end.cases) {
      test(`squash flow ${c.image} -> ${S}x${S}: first row identical to ${file} squashed_uint8_first_row`, () => {
        const pc = cases.find((p) => p.image === c.image);
        assert.ok(pc, `no decoded RGB golden for ${c.image}`);
        const out = resizeForModel(goldenRgb(pc), S, 'squash');
        const expected = Uint8Array.from(c.squashed_uint8_first_row.flat());
        assert.equal(expected.length, S * 3);
        assert.equal(countDiff(out.data.subarray(0, S * 3), expected), 0);
      });
    }
  }
});

describe('resizeBicubic vs independent float64 reference of Resample.c', () => {
  test('random images and sizes (down, up, mixed, 1-pixel edges): identical bytes', () => {
    const r = rng(1234);
    const shapes: Array<[number, number, number, number]> = [
      [1, 1, 1, 1],
      [1, 1, 5, 3],
      [1, 1, 1, 7],
      [1, 6, 1, 2],
      [6, 1, 2, 1],
      [2, 2, 1, 1],
      [7, 5, 1, 1],
      [3, 4, 9, 1],
      [17, 13, 4, 29],
      [64, 48, 22, 22],
      [97, 61, 32, 32],
      [40, 120, 13, 39],
      [5, 5, 5, 5],
      [5, 5, 5, 11],
      [5, 5, 11, 5],
      [33, 31, 32, 30],
      [200, 3, 7, 3],
      [3, 200, 3, 7],
    ];
    for (let i = 0; i < 25; i++) {
      shapes.push([1 + Math.floor(r() * 70), 1 + Math.floor(r() * 70), 1 + Math.floor(r() * 70), 1 + Math.floor(r() * 70)]);
    }
    for (const [w, h, ow, oh] of shapes) {
      const img = randomImage(r, w, h);
      const fast = resizeBicubic(img, ow, oh);
      const ref = referenceResize(img, ow, oh);
      assert.equal(fast.width, ow);
      assert.equal(fast.height, oh);
      assert.equal(countDiff(fast.data, ref.data), 0, `${w}x${h} -> ${ow}x${oh}`);
    }
  });

  test('same size returns an equal copy, not the input buffer (Pillow Image.resize short-circuit)', () => {
    const img = randomImage(rng(7), 9, 4);
    const out = resizeBicubic(img, 9, 4);
    assert.notEqual(out.data, img.data);
    assert.deepEqual(out.data, img.data);
  });

  test('constant image stays constant at any scale (weights sum to 2^22 within rounding)', () => {
    for (const v of [0, 1, 128, 254, 255]) {
      const img: RgbImage = { width: 13, height: 7, data: new Uint8Array(13 * 7 * 3).fill(v) };
      for (const [ow, oh] of [
        [1, 1],
        [3, 2],
        [26, 14],
        [100, 3],
      ] as const) {
        assert.ok(
          resizeBicubic(img, ow, oh).data.every((x) => x === v),
          `value ${v} -> ${ow}x${oh}`,
        );
      }
    }
  });

  test('640x480 -> 224x224 takes a few ms (reported, not a pass/fail timing)', (t) => {
    const img = randomImage(rng(3), 640, 480);
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      resizeBicubic(img, 224, 224);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    t.diagnostic(`640x480 -> 224x224: median ${times[7].toFixed(2)} ms, best ${times[0].toFixed(2)} ms`);
  });
});

describe('crop geometry (transformers get_resize_output_image_size / center_crop)', () => {
  test('shortest edge to S, long edge int(S*long/short), orientation kept', () => {
    assert.deepEqual(shortestEdgeSize(640, 480, 224), { width: Math.trunc((224 * 640) / 480), height: 224 });
    assert.deepEqual(shortestEdgeSize(40, 120, 224), { width: 224, height: 672 });
    assert.deepEqual(shortestEdgeSize(50, 50, 32), { width: 32, height: 32 });
  });

  test('center crop takes top=(h-S)//2, left=(w-S)//2', () => {
    const w = 6,
      h = 5;
    const data = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) data.fill(i, i * 3, i * 3 + 3);
    const out = centerCrop({ width: w, height: h, data }, 3);
    // top = (5-3)//2 = 1, left = (6-3)//2 = 1: first pixel is index 1*6+1 = 7
    assert.deepEqual(Array.from(out.data.filter((_, i) => i % 3 === 0)), [7, 8, 9, 13, 14, 15, 19, 20, 21]);
  });
});

describe('resize errors are FgClipError(INPUT_INVALID)', () => {
  const img: RgbImage = { width: 2, height: 2, data: new Uint8Array(12) };
  const cases: Array<[string, () => unknown]> = [
    ['zero width target', () => resizeBicubic(img, 0, 2)],
    ['fractional target', () => resizeBicubic(img, 2.5, 2)],
    ['absurd target (over the pixel limit)', () => resizeBicubic(img, 100000, 100000)],
    ['NaN target', () => resizeBicubic(img, 2, Number.NaN)],
    ['data length mismatch', () => resizeBicubic({ width: 2, height: 2, data: new Uint8Array(11) }, 3, 3)],
    ['zero-size image', () => resizeBicubic({ width: 0, height: 2, data: new Uint8Array(0) }, 3, 3)],
    ['crop larger than image', () => centerCrop(img, 3)],
    ['null image', () => resizeBicubic(null as never, 2, 2)],
    ['data not a Uint8Array', () => resizeBicubic({ width: 1, height: 1, data: [1, 2, 3] as never }, 2, 2)],
    ['bad model size', () => resizeForModel(img, -1)],
    ['unknown mode', () => resizeForModel(img, 2, 'stretch' as never)],
  ];
  for (const [name, f] of cases) {
    test(name, () => {
      assert.throws(f, (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID');
    });
  }
});
