import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { FgClipError } from '../errors.js';
import { goldenPath } from '../test-util/goldens.js';
import { decimalsFor, formatCosine, heatmapLayout, renderHeatmap, type RenderOptions } from './render.js';
import { upsampleBilinear } from './upsample.js';
import { viridis } from './viridis.js';

// ---- helpers -----------------------------------------------------------------------------------------

interface Decoded {
  width: number;
  height: number;
  channels: number;
  data: Buffer;
}
async function decode(png: Buffer): Promise<Decoded> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data };
}
function px(img: Decoded, x: number, y: number): [number, number, number] {
  const i = (y * img.width + x) * img.channels;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}
/** Rec. 709 relative luminance of sRGB bytes, and CIE L* from it. */
function luminance([r, g, b]: readonly number[]): number {
  const lin = (c: number) => (c / 255 <= 0.04045 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}
function lightness(rgb: readonly number[]): number {
  const y = luminance(rgb);
  return y > (6 / 29) ** 3 ? 116 * Math.cbrt(y) - 16 : (y * 24389) / 27;
}
function grid(h: number, w: number, f: (r: number, c: number) => number): Float32Array {
  const g = new Float32Array(h * w);
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) g[r * w + c] = f(r, c);
  return g;
}
function gray(width: number, height: number, v: number) {
  return { width, height, data: new Uint8Array(width * height * 3).fill(v) };
}
async function assertInvalid(p: Promise<unknown>, mentions: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FgClipError, `expected FgClipError, got ${String(e)}`);
    assert.equal(e.code, 'INPUT_INVALID');
    assert.match(e.message, mentions);
    return true;
  });
}

/**
 * Independent bilinear reference (float64): source coordinate s = (d + 0.5)·in/out − 0.5 clamped to [0, in−1],
 * value = Σ_r Σ_c tent(s_y − r)·tent(s_x − c)·grid[r, c] with tent(u) = max(0, 1 − |u|). Same PyTorch
 * align_corners=False mapping, written as a separable tent-kernel sum instead of two-tap lerps.
 */
function tentReference(g: ArrayLike<number>, inH: number, inW: number, outH: number, outW: number): Float64Array {
  const src = (d: number, i: number, o: number) => Math.min(i - 1, Math.max(0, ((d + 0.5) * i) / o - 0.5));
  const tent = (u: number) => Math.max(0, 1 - Math.abs(u));
  const out = new Float64Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const sy = src(y, inH, outH);
    for (let x = 0; x < outW; x++) {
      const sx = src(x, inW, outW);
      let acc = 0;
      for (let r = 0; r < inH; r++) for (let c = 0; c < inW; c++) acc += tent(sy - r) * tent(sx - c) * g[r * inW + c];
      out[y * outW + x] = acc;
    }
  }
  return out;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

// ---- viridis -----------------------------------------------------------------------------------------

describe('viridis', () => {
  test('endpoints are matplotlib viridis #440154 (t=0) and #fde725 (t=1), exactly', () => {
    assert.deepEqual(viridis(0), [0x44, 0x01, 0x54]);
    assert.deepEqual(viridis(1), [0xfd, 0xe7, 0x25]);
  });

  test('values outside [0, 1] clamp to the endpoints; NaN throws INPUT_INVALID', () => {
    assert.deepEqual(viridis(-3), viridis(0));
    assert.deepEqual(viridis(7), viridis(1));
    assert.deepEqual(viridis(-Infinity), viridis(0));
    assert.throws(
      () => viridis(NaN),
      (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID',
    );
  });

  test('matplotlib lookup: entry int(t·256), so t = i/256 and t = (i+0.99)/256 share a colour; >= 250 distinct entries', () => {
    for (let i = 0; i < 256; i++) assert.deepEqual(viridis(i / 256), viridis((i + 0.99) / 256), `entry ${i}`);
    assert.deepEqual(viridis(255 / 256), viridis(1));
    // byte rounding of matplotlib's float table merges a few neighbours (e.g. entries 112 and 113)
    const keys = new Set(Array.from({ length: 256 }, (_, i) => viridis(i / 256).join(',')));
    assert.ok(keys.size >= 250, `${keys.size} distinct colours`);
  });

  test('lightness L* rises monotonically (slack 0.05 for byte rounding) and near-linearly (within 2.5 of the line)', () => {
    const L = Array.from({ length: 256 }, (_, i) => lightness(viridis(i / 256)));
    for (let i = 1; i < 256; i++) assert.ok(L[i] >= L[i - 1] - 0.05, `L*[${i}]=${L[i]} < L*[${i - 1}]=${L[i - 1]}`);
    for (let i = 4; i < 256; i++) assert.ok(L[i] > L[i - 4], `L* not increasing over entries ${i - 4}..${i}`);
    for (let i = 0; i < 256; i++) {
      const line = L[0] + ((L[255] - L[0]) * i) / 255;
      assert.ok(Math.abs(L[i] - line) <= 2.5, `L*[${i}]=${L[i].toFixed(2)} is ${(L[i] - line).toFixed(2)} off the line`);
    }
    assert.ok(L[255] - L[0] > 70, 'viridis spans dark to light');
  });
});

// ---- upsampleBilinear ----------------------------------------------------------------------------------

describe('upsampleBilinear', () => {
  test('equals an independent tent-kernel reference (max abs diff 1e-6) for up- and down-sampling shapes', () => {
    const rnd = lcg(7);
    for (const [ih, iw, oh, ow] of [
      [14, 14, 61, 47],
      [4, 4, 8, 8],
      [3, 5, 3, 5],
      [1, 6, 9, 13],
      [9, 7, 4, 3],
      [2, 2, 2, 9],
    ]) {
      const g = Array.from({ length: ih * iw }, rnd);
      const got = upsampleBilinear(g, ih, iw, oh, ow);
      const want = tentReference(g, ih, iw, oh, ow);
      assert.equal(got.length, oh * ow);
      let m = 0;
      for (let k = 0; k < got.length; k++) m = Math.max(m, Math.abs(got[k] - want[k]));
      assert.ok(m <= 1e-6, `${ih}x${iw}->${oh}x${ow}: max abs diff ${m}`);
    }
  });

  test('a constant grid stays exactly constant', () => {
    for (const [ih, iw, oh, ow] of [
      [14, 14, 448, 336],
      [3, 7, 2, 50],
      [1, 1, 5, 5],
    ]) {
      const out = upsampleBilinear(new Float32Array(ih * iw).fill(0.3125), ih, iw, oh, ow);
      assert.ok(
        out.every((v) => v === 0.3125),
        `${ih}x${iw}->${oh}x${ow}`,
      );
    }
  });

  test('rejects a grid whose length is not gridH·gridW, and non-integer sizes, with INPUT_INVALID', () => {
    const is = (re: RegExp) => (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID' && re.test(e.message);
    assert.throws(() => upsampleBilinear([1, 2, 3], 2, 2, 4, 4), is(/expected 2·2 = 4, got 3/));
    assert.throws(() => upsampleBilinear([1, 2, 3, 4], 2, 2, 0, 4), is(/outH/));
    assert.throws(() => upsampleBilinear([1, 2, 3, 4], 2.5, 2, 4, 4), is(/gridH/));
  });
});

// ---- renderHeatmap ---------------------------------------------------------------------------------------

describe('renderHeatmap', () => {
  const G = 14;
  const hot = grid(G, G, (r, c) => (r === 12 && c === 12 ? 1 : 0)); // hot cell in the lower right

  test('PNG decodes to the layout size; the image area keeps the photo aspect (640x480 -> 448x336)', async () => {
    const opts: RenderOptions = { gridH: G, gridW: G, panels: [{ text: 'white cat', similarity: hot }], image: gray(640, 480, 128) };
    const img = await decode(await renderHeatmap(opts));
    const layout = heatmapLayout(opts);
    assert.equal(img.width, layout.width);
    assert.equal(img.height, layout.height);
    assert.deepEqual([layout.panels[0].image.width, layout.panels[0].image.height], [448, Math.round((448 * 480) / 640)]);
    const tall = heatmapLayout({ ...opts, image: gray(30, 60, 1), panelSize: 200 });
    assert.deepEqual([tall.panels[0].image.width, tall.panels[0].image.height], [100, 200]);
  });

  test('a hot lower-right cell gives the brightest (yellow) overlay pixels in the lower-right of the panel', async () => {
    const alpha = 0.55;
    const opts: RenderOptions = { gridH: G, gridW: G, panels: [{ text: 'hot', similarity: hot }], image: gray(200, 200, 128) };
    const img = await decode(await renderHeatmap(opts));
    const { image: r } = heatmapLayout(opts).panels[0];
    let best = { L: -1, x: 0, y: 0 };
    for (let y = 0; y < r.height; y++) {
      for (let x = 0; x < r.width; x++) {
        const L = luminance(px(img, r.x + x, r.y + y));
        if (L > best.L) best = { L, x, y };
      }
    }
    const cell = r.width / G;
    assert.ok(Math.abs(best.x - 12.5 * cell) <= cell && Math.abs(best.y - 12.5 * cell) <= cell, `brightest at (${best.x}, ${best.y})`);
    // every pixel: gray 128 blended with viridis of the independently upsampled grid (range 0..1, so t = value);
    // ±2 per channel covers a float32-vs-float64 flip to the neighbouring table entry
    const want = tentReference(hot, G, G, r.height, r.width);
    let worst = 0;
    for (let y = 0; y < r.height; y++) {
      for (let x = 0; x < r.width; x++) {
        const e = viridis(want[y * r.width + x]).map((c) => Math.round((1 - alpha) * 128 + alpha * c));
        const g = px(img, r.x + x, r.y + y);
        worst = Math.max(worst, ...g.map((v, ch) => Math.abs(v - e[ch])));
      }
    }
    assert.ok(worst <= 2, `max channel diff vs independent overlay ${worst}`);
    const [br, bg, bb] = px(img, r.x + best.x, r.y + best.y);
    assert.ok(br > 180 && bg > 180 && bb < 90, `hottest pixel is yellow (${[br, bg, bb]})`);
    // every pixel at >= 90% of the peak luminance lies in the lower-right quadrant
    const floor = luminance(px(img, r.x + Math.floor(r.width / 4), r.y + Math.floor(r.height / 4)));
    for (let y = 0; y < r.height; y++) {
      for (let x = 0; x < r.width; x++) {
        if (luminance(px(img, r.x + x, r.y + y)) - floor >= 0.9 * (best.L - floor)) {
          assert.ok(x >= r.width / 2 && y >= r.height / 2, `bright pixel at (${x}, ${y}) outside the lower-right quadrant`);
        }
      }
    }
    // far from the hot cell: gray blended with viridis(0) (±1 for the background resize)
    const cold = viridis(0).map((c) => Math.round((1 - alpha) * 128 + alpha * c));
    const p = px(img, r.x + 5, r.y + 5);
    for (let ch = 0; ch < 3; ch++) assert.ok(Math.abs(p[ch] - cold[ch]) <= 1, `cold pixel ${p} vs ${cold}`);
  });

  test('colorbar: top row is viridis(1), bottom row viridis(0); min/max labels and the title leave ink', async () => {
    const opts: RenderOptions = { gridH: G, gridW: G, panels: [{ text: 'white cat', similarity: hot }], panelSize: 200 };
    const img = await decode(await renderHeatmap(opts));
    const p = heatmapLayout(opts).panels[0];
    const mx = p.bar.x + Math.floor(p.bar.width / 2);
    assert.deepEqual(px(img, mx, p.bar.y), viridis(1));
    assert.deepEqual(px(img, mx, p.bar.y + p.bar.height - 1), viridis(0));
    const dark = (x0: number, y0: number, x1: number, y1: number) => {
      let n = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (Math.max(...px(img, x, y)) < 110) n++;
      return n;
    };
    assert.ok(dark(p.labelX, p.bar.y - 6, p.labelX + 40, p.bar.y + 6) > 10, 'max label ink');
    const yb = p.bar.y + p.bar.height - 1;
    assert.ok(dark(p.labelX, yb - 6, p.labelX + 40, yb + 6) > 10, 'min label ink');
    assert.ok(dark(p.image.x, p.image.y - 22, p.image.x + p.image.width, p.image.y - 2) > 20, 'title ink');
    assert.equal(dark(p.image.x, p.image.y - 22, p.image.x + 50, p.image.y - 2), 0, 'short title is centred');
  });

  test('without an image the overlay is the pure colormap; with alpha=1 over a photo it is the same', async () => {
    const sim = grid(G, G, (r, c) => Math.sin(r / 3) + Math.cos(c / 4));
    const bare: RenderOptions = { gridH: G, gridW: G, panels: [{ text: 't', similarity: sim }], panelSize: 96 };
    const over: RenderOptions = { ...bare, image: gray(50, 50, 200), alpha: 1 };
    const [a, b] = [await decode(await renderHeatmap(bare)), await decode(await renderHeatmap(over))];
    const r = heatmapLayout(bare).panels[0].image;
    assert.deepEqual(heatmapLayout(over).panels[0].image, r);
    for (let y = 0; y < r.height; y++) for (let x = 0; x < r.width; x++) assert.deepEqual(px(a, r.x + x, r.y + y), px(b, r.x + x, r.y + y));
    const zero = await decode(await renderHeatmap({ ...over, alpha: 0 }));
    for (let y = 0; y < r.height; y += 7) for (let x = 0; x < r.width; x += 7) assert.deepEqual(px(zero, r.x + x, r.y + y), [200, 200, 200]);
  });

  test('two panels make a wider image of the same height; more than 3 wrap into a second row', async () => {
    const one: RenderOptions = { gridH: G, gridW: G, panels: [{ text: 'a', similarity: hot }], panelSize: 80 };
    const two: RenderOptions = { ...one, panels: [...one.panels, { text: 'b', similarity: hot }] };
    const [i1, i2] = [await decode(await renderHeatmap(one)), await decode(await renderHeatmap(two))];
    assert.ok(i2.width > i1.width + 80, `${i2.width} vs ${i1.width}`);
    assert.equal(i2.height, i1.height);
    const l2 = heatmapLayout(two).panels;
    assert.ok(l2[1].image.x > l2[0].bar.x && l2[1].image.y === l2[0].image.y);
    const panels = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `t${i}`, similarity: hot }));
    const three = heatmapLayout({ ...one, panels: panels(3) });
    const four = heatmapLayout({ ...one, panels: panels(4) });
    assert.equal(four.width, three.width);
    assert.ok(four.height > three.height + 80);
    assert.equal(four.panels[3].image.x, four.panels[0].image.x);
    const i4 = await decode(await renderHeatmap({ ...one, panels: panels(4) }));
    assert.deepEqual([i4.width, i4.height], [four.width, four.height]);
  });

  test("scale 'per-panel' stretches each panel to its own range; 'shared' uses one range across panels", async () => {
    const half = hot.map((v) => v * 0.5);
    const base: RenderOptions = {
      gridH: G,
      gridW: G,
      panels: [
        { text: 'a', similarity: hot },
        { text: 'b', similarity: half },
      ],
      panelSize: 70,
    };
    const same = (img: Decoded, o: RenderOptions) => {
      const [p, q] = heatmapLayout(o).panels.map((l) => l.image);
      let maxL = [0, 0];
      let equal = true;
      for (let y = 0; y < p.height; y++) {
        for (let x = 0; x < p.width; x++) {
          const [u, v] = [px(img, p.x + x, p.y + y), px(img, q.x + x, q.y + y)];
          if (u.join() !== v.join()) equal = false;
          maxL = [Math.max(maxL[0], luminance(u)), Math.max(maxL[1], luminance(v))];
        }
      }
      return { equal, maxL };
    };
    const per = same(await decode(await renderHeatmap(base)), base);
    assert.ok(per.equal, 'per-panel: a scaled copy of a grid renders identically');
    const shared = { ...base, scale: 'shared' as const };
    const sh = same(await decode(await renderHeatmap(shared)), shared);
    assert.ok(!sh.equal && sh.maxL[1] < sh.maxL[0] * 0.8, `shared: second panel dimmer (${sh.maxL})`);
  });

  test('titles: long ASCII ones are cut with an ellipsis inside the panel width; non-ASCII ones still draw ink', async () => {
    const long = 'a '.repeat(200) + 'end';
    const opts: RenderOptions = {
      gridH: 2,
      gridW: 2,
      panels: [
        { text: long, similarity: [0, 1, 2, 3] },
        { text: '白猫 window', similarity: [0, 1, 2, 3] },
      ],
      panelSize: 120,
    };
    const img = await decode(await renderHeatmap(opts));
    const [p, q] = heatmapLayout(opts).panels;
    const inkCols = (l: typeof p) => {
      const cols: number[] = [];
      for (let x = l.image.x - 10; x < l.bar.x; x++) {
        for (let y = l.image.y - 22; y < l.image.y - 2; y++)
          if (Math.max(...px(img, x, y)) < 110) {
            cols.push(x);
            break;
          }
      }
      return cols;
    };
    const c = inkCols(p);
    assert.ok(c.length > 40 && c[0] >= p.image.x && c[c.length - 1] < p.image.x + p.image.width, `title ink spans ${c[0]}..${c[c.length - 1]}`);
    assert.ok(inkCols(q).length > 10, 'non-ASCII title drawn through the system-font path');
  });

  test('renders the model-card photo (cat_dfclor.jpg, 640x480) with two 14x14 panels', async () => {
    const { data, info } = await sharp(goldenPath('images', 'cat_dfclor.jpg')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const blob = grid(G, G, (r, c) => 0.05 + 0.2 * Math.exp(-((r - 7) ** 2 + (c - 10) ** 2) / 8));
    const opts: RenderOptions = {
      gridH: G,
      gridW: G,
      image: { width: info.width, height: info.height, data },
      panels: [
        { text: 'white cat', similarity: blob },
        { text: 'a dog', similarity: blob.map((v) => -v) },
      ],
    };
    const img = await decode(await renderHeatmap(opts));
    const l = heatmapLayout(opts);
    assert.deepEqual([img.width, img.height], [l.width, l.height]);
    assert.deepEqual([l.panels[1].image.width, l.panels[1].image.height], [448, 336]);
  });

  test('formatCosine: fixed decimals, typographic minus, no negative zero', () => {
    assert.equal(formatCosine(0.26351, 3), '0.264');
    assert.equal(formatCosine(-0.02, 3), '\u22120.020');
    assert.equal(formatCosine(-0.0001, 3), '0.000');
  });

  test('decimalsFor: 3 decimals, more when needed to tell lo from hi (capped at 6)', () => {
    for (const [lo, hi] of [
      [-0.5, 0.5],
      [0.1, 0.3],
      [0.1, 0.1004],
      [0.2, 0.20003],
      [0.25, 0.2500001],
    ]) {
      // the last span (1e-7) is below the 6-decimal cap, so only the cap is checked there
      const d = decimalsFor({ lo, hi });
      assert.ok(d >= 3 && d <= 6, `${lo}..${hi}: ${d}`);
      if (d < 6) assert.notEqual(formatCosine(lo, d), formatCosine(hi, d), `${lo}..${hi} at ${d} decimals`);
    }
    assert.equal(decimalsFor({ lo: 0.2, hi: 0.2 }), 3);
  });

  describe('bad input throws FgClipError INPUT_INVALID naming the field', () => {
    const ok = (): RenderOptions => ({ gridH: 2, gridW: 2, panels: [{ text: 'a', similarity: [0, 1, 2, 3] }] });
    test('non-finite similarities (NaN, Infinity) name panel, index, row and column', async () => {
      await assertInvalid(
        renderHeatmap({ ...ok(), panels: [ok().panels[0], { text: 'b', similarity: [0, 1, NaN, 3] }] }),
        /panels\[1\]\.similarity\[2\] \(row 1, col 0\).*NaN/,
      );
      await assertInvalid(renderHeatmap({ ...ok(), panels: [{ text: 'a', similarity: new Float32Array([0, Infinity, 0, 0]) }] }), /similarity\[1\].*Infinity/);
    });
    test('grid size mismatch', async () => {
      await assertInvalid(renderHeatmap({ ...ok(), gridH: 3 }), /expected gridH·gridW = 3·2 = 6, got 4/);
      await assertInvalid(renderHeatmap({ ...ok(), gridW: 0 }), /positive integers/);
    });
    test('empty or missing panels, bad text or similarity types', async () => {
      await assertInvalid(renderHeatmap({ ...ok(), panels: [] }), /non-empty array \(got an empty array\)/);
      await assertInvalid(renderHeatmap({ ...ok(), panels: undefined as unknown as RenderOptions['panels'] }), /non-empty array/);
      await assertInvalid(renderHeatmap({ ...ok(), panels: [{ text: 5 as unknown as string, similarity: [0, 1, 2, 3] }] }), /panels\[0\]\.text/);
      await assertInvalid(renderHeatmap({ ...ok(), panels: [{ text: 'a', similarity: 'x' as unknown as number[] }] }), /Float32Array or number\[\]/);
    });
    test('alpha, panelSize, scale and image out of range', async () => {
      await assertInvalid(renderHeatmap({ ...ok(), alpha: 1.5 }), /alpha must be in \[0, 1\]/);
      await assertInvalid(renderHeatmap({ ...ok(), alpha: NaN }), /alpha/);
      await assertInvalid(renderHeatmap({ ...ok(), panelSize: 10 }), /panelSize must be an integer in \[64, 4096\]/);
      await assertInvalid(renderHeatmap({ ...ok(), panelSize: 100.5 }), /panelSize/);
      await assertInvalid(renderHeatmap({ ...ok(), scale: 'global' as 'shared' }), /scale must be 'per-panel' or 'shared'/);
      await assertInvalid(renderHeatmap({ ...ok(), image: { width: 4, height: 4, data: new Uint8Array(40) } }), /expected 48, got 40/);
      await assertInvalid(renderHeatmap({ ...ok(), image: { width: 0, height: 4, data: new Uint8Array(0) } }), /positive integer width and height/);
    });
  });
});
