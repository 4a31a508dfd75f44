import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RgbCanvas } from './canvas.js';
import { FONT_ATLAS } from './font-atlas.js';
import { atlasCovers, atlasFont, drawAtlas, ELLIPSIS, measureAtlas, sanitizeLine, systemTextLine, truncateAtlas } from './text.js';

const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

describe('built-in font atlas', () => {
  test('each size holds printable ASCII, … and −, with coverage data exactly width·height nibbles', () => {
    for (const key of ['title', 'label'] as const) {
      const f = atlasFont(key);
      assert.ok(atlasCovers(f, PRINTABLE + ELLIPSIS + '\u2212'), key);
      assert.ok(!atlasCovers(f, '猫') && !atlasCovers(f, 'é') && !atlasCovers(f, '\n'), `${key} covers only what it lists`);
      for (const line of FONT_ATLAS[key].glyphs) {
        const [, , , , w, h, bits = ''] = line.split(' ');
        assert.equal(Buffer.from(bits, 'base64').length, Math.ceil((Number(w) * Number(h)) / 2), line.slice(0, 12));
      }
      assert.equal(f.glyphs.get(32)?.w, 0, 'space has no ink');
    }
  });

  test('drawn text stays inside its advance box: x in [pen, pen + width], y in [baseline − ascent, baseline + descent]', () => {
    const f = atlasFont('title');
    const canvas = new RgbCanvas(200, 40);
    const s = 'Hg|0.5';
    drawAtlas(canvas, f, s, 10, 25, [0, 0, 0]);
    let [x0, x1, y0, y1] = [Infinity, -1, Infinity, -1];
    for (let y = 0; y < 40; y++) {
      for (let x = 0; x < 200; x++) {
        if (canvas.data[3 * (y * 200 + x)] < 255) [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
      }
    }
    assert.ok(x0 >= 10 && x1 <= 10 + Math.ceil(measureAtlas(f, s)), `ink x ${x0}..${x1}`);
    assert.ok(y0 >= 25 - Math.ceil(f.ascent) && y1 <= 25 + Math.ceil(f.descent), `ink y ${y0}..${y1}`);
    assert.ok(x1 - x0 > 30 && y1 - y0 > 10, 'something legible-sized was drawn');
  });
});

describe('line fitting', () => {
  const f = atlasFont('title');
  test('truncateAtlas returns a fitting string unchanged, else the longest prefix + … that fits', () => {
    assert.equal(truncateAtlas(f, 'white cat', 200), 'white cat');
    const s = 'a photo of a white cat sitting on a laptop keyboard';
    const cut = truncateAtlas(f, s, 120);
    assert.ok(cut.endsWith(ELLIPSIS) && cut.length < s.length, cut);
    assert.ok(measureAtlas(f, cut) <= 120, `${measureAtlas(f, cut)} px`);
    const prefix = cut.slice(0, -1);
    assert.ok(s.startsWith(prefix));
    const longer = s.slice(0, prefix.length + 1);
    assert.ok(measureAtlas(f, longer + ELLIPSIS) > 120 || longer.endsWith(' '), 'one more character would not fit');
  });

  test('sanitizeLine turns newlines, tabs and other controls into spaces', () => {
    assert.equal(sanitizeLine('a\nb\tc\r\u0085d\u2028e'), 'a b c  d e');
  });

  test('systemTextLine (Pango) cuts non-ASCII text with … to the width, and returns null for blank text', async () => {
    const full = await systemTextLine('白猫 window', 15, 1000);
    assert.ok(full && full.w > 20 && full.coverage.some((c) => c > 128), 'renders ink');
    const cut = await systemTextLine('黑猫 '.repeat(30), 15, 80);
    assert.ok(cut && cut.w <= 80 && cut.text.endsWith(ELLIPSIS), `${cut?.w} px: ${cut?.text}`);
    assert.equal(await systemTextLine('  ', 15, 80), null);
  });
});
