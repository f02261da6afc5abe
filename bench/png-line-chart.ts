/**
 * A small line chart written as a PNG with nothing but node:zlib: an RGB raster,
 * straight lines, and a 5×7 bitmap font for the labels (upper case, digits and a
 * few signs). Enough for the cost plot in the README without a plotting dependency.
 */
import { crc32, deflateSync } from 'node:zlib';

export type Rgb = readonly [number, number, number];

/** 5×7 glyphs, one number per row, the low 5 bits drawn left to right. */
const FONT: Record<string, readonly number[]> = {
  '0': [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
  '1': [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  '2': [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
  '3': [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  '4': [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
  '5': [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  '6': [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
  '7': [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  '8': [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
  '9': [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  A: [0x0e, 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11],
  B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
  D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
  F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
  H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
  J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
  L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
  N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
  R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
  T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
  X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
  Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  ' ': [0, 0, 0, 0, 0, 0, 0],
  '.': [0, 0, 0, 0, 0, 0x0c, 0x0c],
  ',': [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  '-': [0, 0, 0, 0x1f, 0, 0, 0],
  $: [0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04],
  '(': [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
  ')': [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
  '/': [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
  ':': [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0],
  '%': [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
  '=': [0, 0, 0x1f, 0, 0x1f, 0, 0],
  '<': [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
  '>': [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
};

export const GLYPH_W = 6; // 5 columns and a gap

export class Raster {
  readonly px: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.px = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.px.set(background, i * 3);
  }

  set(x: number, y: number, c: Rgb): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    this.px.set(c, (yi * this.width + xi) * 3);
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }

  /** A straight line `thickness` pixels wide (square pen). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const off = Math.floor(thickness / 2);
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      this.rect(Math.round(x) - off, Math.round(y) - off, thickness, thickness, c);
    }
  }

  /** Text in the bitmap font, upper-cased; `scale` pixels per font dot. Returns its width. */
  text(x: number, y: number, s: string, c: Rgb, scale = 2): number {
    const chars = [...s.toUpperCase()];
    chars.forEach((ch, n) => {
      const g = FONT[ch];
      if (!g) throw new Error(`no glyph for ${JSON.stringify(ch)} in the chart font`);
      g.forEach((row, r) => {
        for (let col = 0; col < 5; col++) {
          if (row & (1 << (4 - col)))
            this.rect(x + (n * GLYPH_W + col) * scale, y + r * scale, scale, scale, c);
        }
      });
    });
    return chars.length * GLYPH_W * scale;
  }

  /** Text turned a quarter anticlockwise (for a y-axis label), its first letter at the bottom. */
  textUp(x: number, y: number, s: string, c: Rgb, scale = 2): void {
    [...s.toUpperCase()].forEach((ch, n) => {
      const g = FONT[ch];
      if (!g) throw new Error(`no glyph for ${JSON.stringify(ch)} in the chart font`);
      g.forEach((row, r) => {
        for (let col = 0; col < 5; col++) {
          if (row & (1 << (4 - col)))
            this.rect(x + r * scale, y - (n * GLYPH_W + col) * scale, scale, scale, c);
        }
      });
    });
  }

  /** PNG bytes: 8-bit RGB, no interlace, filter 0 on every row. */
  png(): Buffer {
    const chunk = (type: string, data: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(body));
      return Buffer.concat([len, body, crc]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(this.width, 0);
    ihdr.writeUInt32BE(this.height, 4);
    ihdr.set([8, 2, 0, 0, 0], 8);
    const stride = this.width * 3;
    const raw = Buffer.alloc((stride + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      raw[y * (stride + 1)] = 0;
      raw.set(this.px.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
    }
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(raw, { level: 9 })),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}

export interface Series {
  label: string;
  color: Rgb;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface ChartSpec {
  width: number;
  height: number;
  title: string;
  xLabel: string;
  yLabel: string;
  xMax: number;
  xStep: number;
  yMax: number;
  yStep: number;
  /** Tick label of a y value, e.g. `$40`. */
  yTick: (v: number) => string;
  series: readonly Series[];
}

const INK: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];

export function lineChart(spec: ChartSpec): Raster {
  const r = new Raster(spec.width, spec.height);
  const left = 90;
  const right = spec.width - 30;
  const top = 60;
  const bottom = spec.height - 70;
  const px = (x: number) => left + (x / spec.xMax) * (right - left);
  const py = (y: number) => bottom - (y / spec.yMax) * (bottom - top);

  r.text((spec.width - spec.title.length * GLYPH_W * 2) / 2, 20, spec.title, INK);
  for (let y = 0; y <= spec.yMax + 1e-9; y += spec.yStep) {
    r.line(left, py(y), right, py(y), GRID);
    const t = spec.yTick(y);
    r.text(left - 8 - t.length * GLYPH_W * 2, py(y) - 7, t, INK);
  }
  for (let x = 0; x <= spec.xMax + 1e-9; x += spec.xStep) {
    r.line(px(x), top, px(x), bottom, GRID);
    const t = String(x);
    r.text(px(x) - (t.length * GLYPH_W * 2) / 2, bottom + 10, t, INK);
  }
  r.line(left, bottom, right, bottom, INK, 2);
  r.line(left, top, left, bottom, INK, 2);
  r.text((left + right - spec.xLabel.length * GLYPH_W * 2) / 2, spec.height - 30, spec.xLabel, INK);
  r.textUp(14, (top + bottom + spec.yLabel.length * GLYPH_W * 2) / 2, spec.yLabel, INK);

  for (const s of spec.series) {
    for (let i = 1; i < s.points.length; i++) {
      const [x0, y0] = s.points[i - 1]!;
      const [x1, y1] = s.points[i]!;
      r.line(px(x0), py(Math.min(y0, spec.yMax)), px(x1), py(Math.min(y1, spec.yMax)), s.color, 3);
    }
  }
  // Legend, bottom right inside the plot (below rising cost lines), on a white box so
  // grid lines do not cross it.
  const lw = Math.max(...spec.series.map((s) => s.label.length)) * GLYPH_W * 2 + 56;
  const lh = spec.series.length * 22 + 10;
  const lx = right - lw - 12;
  const ly = bottom - lh - 12;
  r.rect(lx, ly, lw, lh, [255, 255, 255]);
  spec.series.forEach((s, i) => {
    const y = ly + 10 + i * 22;
    r.line(lx + 8, y + 6, lx + 38, y + 6, s.color, 3);
    r.text(lx + 46, y, s.label, INK);
  });
  return r;
}
