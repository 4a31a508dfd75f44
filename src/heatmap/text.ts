/**
 * Text for the heatmap figure. Strings whose every character is in the built-in atlas (printable ASCII, … and −;
 * see font-atlas.ts) are drawn from it: identical output on every machine, no system font needed. Other strings
 * (e.g. the Chinese prompts of FG-CLIP 2's model card) are laid out by Pango through sharp's text input, which uses
 * whatever fonts fontconfig finds; without a font covering them they come out as empty boxes (on Debian,
 * fonts-noto-cjk covers CJK). Neither path throws on unusual text.
 */
import sharp from 'sharp';
import { type AtlasData, FONT_ATLAS } from './font-atlas.js';
import type { RgbCanvas, Rgb } from './canvas.js';

export const ELLIPSIS = '\u2026';

interface Glyph {
  readonly advance: number; // px, fractional
  readonly left: number; // coverage box offset from the pen, px
  readonly top: number; // coverage box top relative to the baseline (negative = above), px
  readonly w: number;
  readonly h: number;
  readonly coverage: Uint8Array; // [h·w], 0..15
}

export interface AtlasFont {
  readonly sizePx: number;
  readonly ascent: number;
  readonly descent: number;
  readonly lineHeight: number;
  readonly glyphs: ReadonlyMap<number, Glyph>;
}

function parseAtlas(data: AtlasData): AtlasFont {
  const glyphs = new Map<number, Glyph>();
  for (const line of data.glyphs) {
    const [cp, adv64, left, top, w, h, bits = ''] = line.split(' ');
    const packed = Buffer.from(bits, 'base64');
    const n = Number(w) * Number(h);
    const coverage = new Uint8Array(n);
    for (let i = 0; i < n; i++) coverage[i] = i & 1 ? packed[i >> 1] & 15 : packed[i >> 1] >> 4;
    glyphs.set(Number(cp), {
      advance: Number(adv64) / 64,
      left: Number(left),
      top: Number(top),
      w: Number(w),
      h: Number(h),
      coverage,
    });
  }
  return { sizePx: data.sizePx, ascent: data.ascent, descent: data.descent, lineHeight: data.lineHeight, glyphs };
}

const cache = new Map<keyof typeof FONT_ATLAS, AtlasFont>();
/** The built-in font at the title (15 px) or label (12 px) size, parsed on first use. */
export function atlasFont(which: keyof typeof FONT_ATLAS): AtlasFont {
  let f = cache.get(which);
  if (!f) {
    f = parseAtlas(FONT_ATLAS[which]);
    cache.set(which, f);
  }
  return f;
}

/** Control characters (newlines, tabs, …) become spaces so a title stays on one line. */
export function sanitizeLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
}

export function atlasCovers(font: AtlasFont, s: string): boolean {
  for (const ch of s) if (!font.glyphs.has(ch.codePointAt(0) ?? -1)) return false;
  return true;
}

/** Advance width in px of s drawn with the atlas (s must be covered). */
export function measureAtlas(font: AtlasFont, s: string): number {
  let w = 0;
  for (const ch of s) w += font.glyphs.get(ch.codePointAt(0) ?? -1)?.advance ?? 0;
  return w;
}

/** Longest prefix of s (by code point) that fits maxWidth together with a trailing ellipsis; s itself if it fits. */
export function truncateAtlas(font: AtlasFont, s: string, maxWidth: number): string {
  if (measureAtlas(font, s) <= maxWidth) return s;
  const chars = [...s];
  let budget = maxWidth - measureAtlas(font, ELLIPSIS);
  let n = 0;
  for (; n < chars.length; n++) {
    budget -= measureAtlas(font, chars[n]);
    if (budget < 0) break;
  }
  return chars.slice(0, n).join('').trimEnd() + ELLIPSIS;
}

/** Draws s with its pen starting at (x, baseline); glyph origins are rounded to whole pixels. */
export function drawAtlas(canvas: RgbCanvas, font: AtlasFont, s: string, x: number, baseline: number, rgb: Rgb): void {
  let pen = x;
  const by = Math.round(baseline);
  for (const ch of s) {
    const g = font.glyphs.get(ch.codePointAt(0) ?? -1);
    if (!g) continue;
    const gx = Math.round(pen) + g.left;
    for (let yy = 0; yy < g.h; yy++) {
      for (let xx = 0; xx < g.w; xx++) {
        const c = g.coverage[yy * g.w + xx];
        if (c) canvas.blendPixel(gx + xx, by + g.top + yy, rgb, c / 15);
      }
    }
    pen += g.advance;
  }
}

/** A line of text rasterized by Pango: coverage [h·w] in 0..255, cropped to its ink. */
export interface TextBitmap {
  readonly text: string;
  readonly w: number;
  readonly h: number;
  readonly coverage: Uint8Array;
}

const escapeMarkup = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

async function pangoLine(s: string, sizePx: number): Promise<TextBitmap> {
  const { data, info } = await sharp({
    text: { text: escapeMarkup(s), font: `sans ${sizePx}px`, dpi: 72, rgba: true, wrap: 'none' },
  })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const coverage = new Uint8Array(info.width * info.height);
  for (let i = 0; i < coverage.length; i++) coverage[i] = data[i * info.channels + info.channels - 1];
  return { text: s, w: info.width, h: info.height, coverage };
}

/** s rendered by Pango with system fonts, cut with an ellipsis (binary search over code points) to fit maxWidth. */
export async function systemTextLine(s: string, sizePx: number, maxWidth: number): Promise<TextBitmap | null> {
  if (s.trim() === '') return null;
  const full = await pangoLine(s, sizePx);
  if (full.w <= maxWidth) return full;
  const chars = [...s];
  let lo = 0; // prefix length known to fit (with ellipsis); 0 = ellipsis alone
  let hi = chars.length - 1;
  let best = await pangoLine(ELLIPSIS, sizePx);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const b = await pangoLine(chars.slice(0, mid).join('').trimEnd() + ELLIPSIS, sizePx);
    if (b.w <= maxWidth) {
      lo = mid;
      best = b;
    } else hi = mid - 1;
  }
  return best;
}

/** Blends a Pango bitmap with its top-left corner at (x, y). */
export function drawBitmap(canvas: RgbCanvas, b: TextBitmap, x: number, y: number, rgb: Rgb): void {
  const x0 = Math.round(x);
  const y0 = Math.round(y);
  for (let yy = 0; yy < b.h; yy++) {
    for (let xx = 0; xx < b.w; xx++) {
      const c = b.coverage[yy * b.w + xx];
      if (c) canvas.blendPixel(x0 + xx, y0 + yy, rgb, c / 255);
    }
  }
}
