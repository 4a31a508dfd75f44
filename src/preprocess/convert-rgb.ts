/**
 * Pillow `convert("RGB")` for the sample layouts libvips cannot be asked to reduce the way Pillow does:
 * CMYK, and 16-bit images. Reference: Pillow src/libImaging/Convert.c (`cmyk2rgb`, `I16_RGB`, `i2rgb`) and the
 * 16-bit raw modes of PngImagePlugin.py / TiffImagePlugin.py ("RGB;16B", "RGBA;16B", "LA;16B", "I;16B", "CMYK;16B").
 */

/** How the decoder's raw samples map to RGB (8-bit gray/RGB/RGBA/palette are left to libvips: plain copies). */
export type SampleLayout =
  | 'cmyk' // 4+ bands C,M,Y,K[,alpha]: Pillow's naive cmyk2rgb, no colour management
  | 'rgb16' // 3+ bands: high byte of each sample (Pillow unpacks RGB;16B/RGBA;16B keeping the MSB)
  | 'gray16' // 1 band: clip to [0, 255] (Pillow opens it as I;16 / I, whose RGB conversion clips, not scales)
  | 'grayAlpha16'; // 2 bands: high byte (Pillow opens it through LA;16B, keeping the MSB)

/** Bands each layout needs at least (extra bands, i.e. alpha, are dropped). */
export const MIN_BANDS: Readonly<Record<SampleLayout, number>> = { cmyk: 4, rgb16: 3, gray16: 1, grayAlpha16: 2 };

/** Pillow `MULDIV255(a, b)`: round(a*b/255) with integer ops. */
function muldiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/**
 * Interleaved samples [H*W, bands] (8- or 16-bit) → [H, W, 3] uint8 per `layout`.
 * `samples` is a Uint16Array for 16-bit data; 16-bit CMYK keeps the high byte before `cmyk2rgb`.
 */
export function samplesToRgb(layout: SampleLayout, samples: Uint8Array | Uint16Array, bands: number, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  const shift = samples instanceof Uint16Array ? 8 : 0;
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += bands) {
    switch (layout) {
      case 'cmyk': {
        const nk = 255 - (samples[i + 3] >> shift);
        for (let c = 0; c < 3; c++) {
          const v = nk - muldiv255(samples[i + c] >> shift, nk);
          out[o++] = v < 0 ? 0 : v;
        }
        break;
      }
      case 'rgb16':
        out[o++] = samples[i] >> 8;
        out[o++] = samples[i + 1] >> 8;
        out[o++] = samples[i + 2] >> 8;
        break;
      case 'gray16': {
        const v = samples[i] > 255 ? 255 : samples[i];
        out[o++] = v;
        out[o++] = v;
        out[o++] = v;
        break;
      }
      case 'grayAlpha16': {
        const v = samples[i] >> 8;
        out[o++] = v;
        out[o++] = v;
        out[o++] = v;
        break;
      }
    }
  }
  return out;
}
