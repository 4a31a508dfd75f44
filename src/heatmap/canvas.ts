/** A plain RGB (HWC, 8-bit) drawing surface; everything the renderer draws goes through here, then to PNG. */
export type Rgb = readonly [number, number, number];

export class RgbCanvas {
  readonly data: Uint8Array; // [height·width·3]

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < this.data.length; i += 3) this.data.set(background, i);
  }

  /** Fills the rectangle clipped to the canvas. */
  fillRect(x: number, y: number, w: number, h: number, rgb: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) this.data.set(rgb, 3 * (yy * this.width + xx));
    }
  }

  /** 1-px outline just outside the rectangle (x, y, w, h). */
  strokeRectOutside(x: number, y: number, w: number, h: number, rgb: Rgb): void {
    this.fillRect(x - 1, y - 1, w + 2, 1, rgb);
    this.fillRect(x - 1, y + h, w + 2, 1, rgb);
    this.fillRect(x - 1, y, 1, h, rgb);
    this.fillRect(x + w, y, 1, h, rgb);
  }

  /** Source-over blend of one pixel with coverage a in [0, 1]; ignores pixels outside the canvas. */
  blendPixel(x: number, y: number, rgb: Rgb, a: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || a <= 0) return;
    const i = 3 * (y * this.width + x);
    const k = Math.min(1, a);
    for (let c = 0; c < 3; c++) this.data[i + c] = Math.round(this.data[i + c] * (1 - k) + rgb[c] * k);
  }
}
