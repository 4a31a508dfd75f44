import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { goldenPath, readGoldenJson } from '../test-util/goldens.js';
import { FgClipError } from '../errors.js';
import { decodeImage, DEFAULT_MAX_PIXELS } from './decode.js';
import type { RgbImage } from './types.js';

// ---- tiny hand-written encoders: fixtures whose exact sample values we choose, independent of sharp's encoders ----

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
interface PngSpec {
  width: number;
  height: number;
  bitDepth: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  /** packed scanlines without filter bytes (16-bit samples big-endian, as PNG stores them) */
  rows: Uint8Array;
  before?: Array<[string, Uint8Array]>;
}
function makePng(s: PngSpec): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr[8] = s.bitDepth;
  ihdr[9] = s.colorType;
  const stride = s.rows.length / s.height;
  const filtered = Buffer.alloc(s.rows.length + s.height);
  for (let y = 0; y < s.height; y++) Buffer.from(s.rows.subarray(y * stride, (y + 1) * stride)).copy(filtered, y * (stride + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(s.before ?? []).map(([t, d]) => chunk(t, d)),
    chunk('IDAT', deflateSync(filtered, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
function be16(values: number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
}
/** Baseline uncompressed little-endian TIFF, 8-bit CMYK (PhotometricInterpretation 5, InkSet 1). */
function makeCmykTiff(width: number, height: number, cmyk: Uint8Array): Buffer {
  const entries: Array<[number, number, number, number]> = []; // tag, type, count, value
  const nEntries = 11;
  const ifdSize = 2 + nEntries * 12 + 4;
  const bitsOffset = 8 + ifdSize;
  const dataOffset = bitsOffset + 8;
  entries.push([256, 4, 1, width], [257, 4, 1, height], [258, 3, 4, bitsOffset], [259, 3, 1, 1], [262, 3, 1, 5]);
  entries.push([273, 4, 1, dataOffset], [277, 3, 1, 4], [278, 4, 1, height], [279, 4, 1, cmyk.length], [284, 3, 1, 1]);
  entries.push([332, 3, 1, 1]);
  const b = Buffer.alloc(dataOffset + cmyk.length);
  b.write('II', 0, 'latin1');
  b.writeUInt16LE(42, 2);
  b.writeUInt32LE(8, 4);
  b.writeUInt16LE(nEntries, 8);
  entries.forEach(([tag, type, count, value], i) => {
    const o = 10 + i * 12;
    b.writeUInt16LE(tag, o);
    b.writeUInt16LE(type, o + 2);
    b.writeUInt32LE(count, o + 4);
    if (type === 3 && count === 1) b.writeUInt16LE(value, o + 8);
    else b.writeUInt32LE(value, o + 8);
  });
  b.writeUInt32LE(0, 10 + nEntries * 12);
  for (let i = 0; i < 4; i++) b.writeUInt16LE(8, bitsOffset + i * 2);
  Buffer.from(cmyk).copy(b, dataOffset);
  return b;
}

function rgbOf(img: RgbImage): number[] {
  return Array.from(img.data);
}
function expectCode(code: string, msgPart?: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof FgClipError, `expected FgClipError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (msgPart !== undefined) assert.ok(e.message.includes(msgPart), `message "${e.message}" lacks "${msgPart}"`);
    return true;
  };
}

// ---- goldens ----

describe('decodeImage vs Pillow convert("RGB") goldens (*.rgb.u8)', () => {
  const cases = readGoldenJson<{ cases: Array<{ image: string; decoded_rgb: string; decoded_shape_hwc: number[] }> }>('preprocess_cases.json').cases;
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.image)) continue;
    seen.add(c.image);
    const isJpeg = /\.jpe?g$/i.test(c.image);
    const rule = isJpeg ? 'max 1 level off on a few pixels (count reported)' : 'identical';
    test(`${c.image}: ${rule}`, async (t) => {
      const img = await decodeImage(goldenPath(c.image));
      const ref = new Uint8Array(readFileSync(goldenPath(c.decoded_rgb)));
      assert.deepEqual([img.height, img.width, 3], c.decoded_shape_hwc);
      assert.equal(img.data.length, ref.length);
      let off = 0;
      let maxd = 0;
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(img.data[i] - ref[i]);
        if (d) off++;
        if (d > maxd) maxd = d;
      }
      t.diagnostic(`${c.image}: ${off} of ${ref.length} samples differ, max ${maxd}`);
      if (isJpeg) {
        assert.ok(maxd <= 1, `max diff ${maxd}`);
        assert.ok(off <= ref.length * 1e-4, `${off} samples off`);
      } else {
        assert.equal(off, 0);
      }
    });
  }

  test('bytes input decodes like the path input', async () => {
    const p = goldenPath('images/noise_rgba_40x120.png');
    assert.deepEqual(await decodeImage(new Uint8Array(readFileSync(p))), await decodeImage(p));
  });
});

// ---- modes: the convert("RGB") rules of Pillow's Convert.c ----

describe('decodeImage mode conversion (hand-written PNG/TIFF with chosen samples)', () => {
  test('RGBA 8-bit: alpha dropped without flattening (colour kept under alpha 0)', async () => {
    const rgba = [10, 20, 30, 0, 200, 100, 50, 128, 1, 2, 3, 255];
    const png = makePng({ width: 3, height: 1, bitDepth: 8, colorType: 6, rows: Uint8Array.from(rgba) });
    assert.deepEqual(rgbOf(await decodeImage(png)), [10, 20, 30, 200, 100, 50, 1, 2, 3]);
  });

  test('gray 8-bit and gray+alpha: gray replicated to R=G=B, alpha dropped', async () => {
    const g = makePng({ width: 3, height: 1, bitDepth: 8, colorType: 0, rows: Uint8Array.from([0, 77, 255]) });
    assert.deepEqual(rgbOf(await decodeImage(g)), [0, 0, 0, 77, 77, 77, 255, 255, 255]);
    const ga = makePng({ width: 2, height: 1, bitDepth: 8, colorType: 4, rows: Uint8Array.from([9, 0, 240, 17]) });
    assert.deepEqual(rgbOf(await decodeImage(ga)), [9, 9, 9, 240, 240, 240]);
  });

  test('1-bit gray: 0/255', async () => {
    const png = makePng({ width: 8, height: 1, bitDepth: 1, colorType: 0, rows: Uint8Array.from([0b10100001]) });
    const bits = [1, 0, 1, 0, 0, 0, 0, 1];
    assert.deepEqual(
      rgbOf(await decodeImage(png)),
      bits.flatMap((b) => [b * 255, b * 255, b * 255]),
    );
  });

  test('palette with tRNS: palette expanded to its RGB, transparency ignored', async () => {
    const plte = Uint8Array.from([255, 0, 0, 0, 128, 0, 7, 8, 9]);
    const png = makePng({
      width: 4,
      height: 1,
      bitDepth: 8,
      colorType: 3,
      rows: Uint8Array.from([2, 0, 1, 2]),
      before: [
        ['PLTE', plte],
        ['tRNS', Uint8Array.from([0, 255, 60])],
      ],
    });
    assert.deepEqual(rgbOf(await decodeImage(png)), [7, 8, 9, 255, 0, 0, 0, 128, 0, 7, 8, 9]);
  });

  const u16 = [0, 255, 256, 4095, 32768, 65535];
  test('16-bit RGB and RGBA: high byte (Pillow rawmodes RGB;16B / RGBA;16B)', async () => {
    const rgb = makePng({ width: 2, height: 1, bitDepth: 16, colorType: 2, rows: be16(u16) });
    assert.deepEqual(
      rgbOf(await decodeImage(rgb)),
      u16.map((v) => Math.floor(v / 256)),
    );
    const rgba = makePng({ width: 1, height: 2, bitDepth: 16, colorType: 6, rows: be16([...u16.slice(0, 3), 0, ...u16.slice(3), 65535]) });
    assert.deepEqual(
      rgbOf(await decodeImage(rgba)),
      u16.map((v) => Math.floor(v / 256)),
    );
  });

  test('16-bit gray: clipped to 255 like Pillow I;16 -> RGB (not scaled); 16-bit gray+alpha: high byte (LA;16B)', async () => {
    const g = makePng({ width: 6, height: 1, bitDepth: 16, colorType: 0, rows: be16(u16) });
    assert.deepEqual(
      rgbOf(await decodeImage(g)),
      u16.flatMap((v) => Array(3).fill(Math.min(v, 255))),
    );
    const ga = makePng({ width: 3, height: 1, bitDepth: 16, colorType: 4, rows: be16([4095, 0, 32768, 65535, 255, 1]) });
    assert.deepEqual(rgbOf(await decodeImage(ga)), [15, 15, 15, 128, 128, 128, 0, 0, 0]);
  });

  test('CMYK TIFF: Pillow cmyk2rgb (255-k - round(c*(255-k)/255)), no colour management', async () => {
    const cmyk = Uint8Array.from([0, 0, 0, 0, 255, 255, 255, 0, 0, 0, 0, 255, 10, 128, 200, 30, 255, 0, 77, 100, 3, 250, 128, 1]);
    const img = await decodeImage(makeCmykTiff(3, 2, cmyk));
    const expected: number[] = [];
    for (let i = 0; i < cmyk.length; i += 4) {
      const nk = 255 - cmyk[i + 3];
      for (let c = 0; c < 3; c++) expected.push(Math.max(0, nk - Math.floor((cmyk[i + c] * nk) / 255 + 0.5)));
    }
    assert.deepEqual(rgbOf(img), expected);
  });

  test('embedded ICC profile (Display P3) is ignored: stored samples returned', async () => {
    const tagged = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
      .withIccProfile('p3')
      .png()
      .toBuffer();
    const icc = (await sharp(tagged).metadata()).icc;
    assert.ok(icc && icc.length > 100, 'could not obtain a P3 profile from sharp');
    const iccp = Buffer.concat([Buffer.from('P3\0\0', 'latin1'), deflateSync(icc)]);
    const samples = [250, 10, 10, 10, 250, 10, 10, 10, 250, 128, 64, 32];
    const png = makePng({ width: 4, height: 1, bitDepth: 8, colorType: 2, rows: Uint8Array.from(samples), before: [['iCCP', iccp]] });
    assert.equal((await sharp(png).metadata()).hasProfile, true);
    assert.deepEqual(rgbOf(await decodeImage(png)), samples);
  });
});

// ---- other containers, written by sharp ----

describe('decodeImage formats (samples made with sharp)', () => {
  const W = 16;
  const H = 12;
  const src = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) src.set([x * 16, y * 20, (x * y * 7) % 256], (y * W + x) * 3);
  const raw = { raw: { width: W, height: H, channels: 3 as const } };
  const maxDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

  test('WebP lossless: identical to the source pixels', async () => {
    const img = await decodeImage(await sharp(src, raw).webp({ lossless: true }).toBuffer());
    assert.deepEqual([img.width, img.height], [W, H]);
    assert.deepEqual(img.data, src);
  });

  test('TIFF (LZW): identical to the source pixels', async () => {
    const img = await decodeImage(await sharp(src, raw).tiff({ compression: 'lzw' }).toBuffer());
    assert.deepEqual(img.data, src);
  });

  test('AVIF (lossy codec): right size, within 16 levels of the source', async () => {
    const img = await decodeImage(await sharp(src, raw).avif({ quality: 90 }).toBuffer());
    assert.deepEqual([img.width, img.height], [W, H]);
    assert.ok(maxDiff(img.data, src) <= 16, `max diff ${maxDiff(img.data, src)}`);
  });

  test('GIF with two frames: the first frame only', async () => {
    const frame = (r: number, g: number, b: number) => Uint8Array.from({ length: W * H * 3 }, (_, i) => [r, g, b][i % 3]);
    const gif = await sharp(Buffer.concat([frame(255, 0, 0), frame(0, 0, 255)]), {
      raw: { width: W, height: 2 * H, channels: 3, pageHeight: H },
    })
      .gif()
      .toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    const img = await decodeImage(gif);
    assert.deepEqual([img.width, img.height], [W, H]);
    assert.deepEqual(img.data, frame(255, 0, 0));
  });

  test('EXIF orientation 6: ignored by default (stored W x H), applied with autoOrient (rotated 90 deg clockwise)', async () => {
    const jpg = await sharp(src, raw).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
    assert.equal((await sharp(jpg).metadata()).orientation, 6);
    const plain = await decodeImage(jpg);
    assert.deepEqual([plain.width, plain.height], [W, H]);
    const oriented = await decodeImage(jpg, { autoOrient: true });
    assert.deepEqual([oriented.width, oriented.height], [H, W]);
    // orientation 6 = rotate 90 deg clockwise to display: out(x, y) = in(y, H-1-x)
    for (let y = 0; y < W; y++)
      for (let x = 0; x < H; x++)
        for (let c = 0; c < 3; c++) assert.equal(oriented.data[(y * H + x) * 3 + c], plain.data[((H - 1 - x) * W + y) * 3 + c], `(${x},${y},${c})`);
  });
});

// ---- errors ----

describe('decodeImage errors are FgClipError with the file named', () => {
  const catPath = goldenPath('images/cat_dfclor.jpg');
  const cat = readFileSync(catPath);
  const noise = readFileSync(goldenPath('images/noise_rgba_40x120.png'));

  test('empty buffer -> IMAGE_DECODE "empty"', async () => {
    await assert.rejects(decodeImage(new Uint8Array(0)), expectCode('IMAGE_DECODE', 'empty'));
  });

  test('random bytes -> IMAGE_DECODE', async () => {
    const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24);
    await assert.rejects(decodeImage(bytes), expectCode('IMAGE_DECODE', 'not a supported image'));
  });

  test('SVG (readable by sharp, not by Pillow) -> IMAGE_DECODE "unsupported image format"', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>');
    await assert.rejects(decodeImage(svg), expectCode('IMAGE_DECODE', 'unsupported image format "svg"'));
  });

  test('truncated PNG (cut inside IDAT) -> IMAGE_DECODE', async () => {
    await assert.rejects(decodeImage(noise.subarray(0, Math.floor(noise.length / 2))), expectCode('IMAGE_DECODE'));
  });

  test('truncated JPEG (60% of the golden photo) -> IMAGE_DECODE, not a half-grey image', async () => {
    await assert.rejects(decodeImage(cat.subarray(0, Math.floor(cat.length * 0.6))), expectCode('IMAGE_DECODE', 'truncated'));
  });

  test('truncated file on disk -> IMAGE_DECODE naming the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fgclip-decode-'));
    try {
      const p = join(dir, 'cut.jpg');
      writeFileSync(p, cat.subarray(0, 20000));
      await assert.rejects(decodeImage(p), expectCode('IMAGE_DECODE', p));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('missing file -> IMAGE_DECODE "file not found" naming the path', async () => {
    const p = join(tmpdir(), 'fgclip-definitely-missing', 'x.png');
    await assert.rejects(decodeImage(p), expectCode('IMAGE_DECODE', 'file not found'));
    await assert.rejects(decodeImage(p), expectCode('IMAGE_DECODE', p));
  });

  test('directory path -> IMAGE_DECODE', async () => {
    await assert.rejects(decodeImage(tmpdir()), expectCode('IMAGE_DECODE', 'directory'));
  });

  test('FIFO, /dev/zero (also through a symlink) and a dangling symlink -> IMAGE_DECODE without opening them (no hang)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fgclip-decode-special-'));
    try {
      execFileSync('mkfifo', [join(dir, 'pipe.png')]);
      symlinkSync('/dev/zero', join(dir, 'zero.png'));
      symlinkSync(join(dir, 'gone.png'), join(dir, 'dangling.png'));
      await assert.rejects(decodeImage(join(dir, 'pipe.png')), expectCode('IMAGE_DECODE', 'is a FIFO (named pipe), not an image file'));
      await assert.rejects(decodeImage(join(dir, 'zero.png')), expectCode('IMAGE_DECODE', 'is a character device, not an image file'));
      await assert.rejects(decodeImage('/dev/zero'), expectCode('IMAGE_DECODE', 'character device'));
      await assert.rejects(decodeImage(join(dir, 'dangling.png')), expectCode('IMAGE_DECODE', 'file not found'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad arguments -> INPUT_INVALID', async () => {
    await assert.rejects(decodeImage(42 as never), expectCode('INPUT_INVALID'));
    await assert.rejects(decodeImage(null as never), expectCode('INPUT_INVALID'));
    await assert.rejects(decodeImage(noise, { maxPixels: 0 }), expectCode('INPUT_INVALID'));
    await assert.rejects(decodeImage(noise, { maxPixels: 1.5 }), expectCode('INPUT_INVALID'));
    await assert.rejects(decodeImage(noise, { autoOrient: 'yes' as never }), expectCode('INPUT_INVALID'));
  });
});

describe('decodeImage pixel limit (decompression-bomb guard)', () => {
  test(`default limit is Pillow's 2 * MAX_IMAGE_PIXELS = 2 * int(1024**3 // 4 // 3)`, () => {
    assert.equal(DEFAULT_MAX_PIXELS, 2 * Math.floor(1024 ** 3 / 4 / 3));
  });

  test('3000x3000 PNG with maxPixels 1e6 -> IMAGE_TOO_LARGE; limit is inclusive (w*h == maxPixels decodes)', async () => {
    const png = await sharp({ create: { width: 3000, height: 3000, channels: 3, background: '#336699' } })
      .png()
      .toBuffer();
    await assert.rejects(decodeImage(png, { maxPixels: 1e6 }), expectCode('IMAGE_TOO_LARGE', '3000x3000'));
    await assert.rejects(decodeImage(png, { maxPixels: 9e6 - 1 }), expectCode('IMAGE_TOO_LARGE'));
    const ok = await decodeImage(png, { maxPixels: 9e6 });
    assert.deepEqual([ok.width, ok.height], [3000, 3000]);
  });

  test('the limit is checked from the header before decoding: header-only PNG gives IMAGE_TOO_LARGE, not IMAGE_DECODE', async () => {
    // A valid IHDR announcing 3000x3000 followed by garbage pixel data: decoding would fail.
    const full = makePng({ width: 3000, height: 1, bitDepth: 8, colorType: 0, rows: new Uint8Array(3000) });
    const ihdrEnd = 8 + 25;
    const header = Buffer.from(full.subarray(0, ihdrEnd));
    header.writeUInt32BE(3000, 16 + 4); // height 1 -> 3000
    header.writeUInt32BE(crc32(header.subarray(12, 29)), 29);
    const fake = Buffer.concat([header, chunk('IDAT', Buffer.from('not zlib data at all')), chunk('IEND', new Uint8Array(0))]);
    await assert.rejects(decodeImage(fake, { maxPixels: 1e6 }), expectCode('IMAGE_TOO_LARGE'));
    await assert.rejects(decodeImage(fake, { maxPixels: Infinity }), expectCode('IMAGE_DECODE'));
  });

  test('decompression bomb: 14000x14000 1-bit PNG of a few KB rejected by the default limit', async () => {
    const w = 14000;
    const h = 14000;
    const png = makePng({ width: w, height: h, bitDepth: 1, colorType: 0, rows: new Uint8Array((w / 8) * h) });
    assert.ok(png.length < 100_000, `bomb file is ${png.length} bytes`);
    // 196M pixels: over Pillow's 178,956,970 but under sharp's own default (0x3FFF^2), so this is our limit at work.
    await assert.rejects(decodeImage(png), expectCode('IMAGE_TOO_LARGE', `${w}x${h}`));
  });
});
