/**
 * Helpers for the pixel tests of the figures (`*.pixels.test.ts`): each SVG is rasterised (resvg, a
 * real SVG renderer) so that assertions are on what a person sees. Set MRN_PLOT_PNG_DIR to keep the
 * PNGs for a look.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { expect } from 'vitest';

export interface Raster {
  width: number;
  height: number;
  /** RGBA, row-major. */
  pixels: Uint8Array;
}

export function rasterise(svg: string, keepAs?: string): Raster {
  const r = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  const img = r.render();
  const dir = process.env.MRN_PLOT_PNG_DIR;
  if (dir && keepAs) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, keepAs), img.asPng());
  }
  return { width: img.width, height: img.height, pixels: new Uint8Array(img.pixels) };
}

export function rgbAt(r: Raster, x: number, y: number): [number, number, number] {
  const i = (y * r.width + x) * 4;
  return [r.pixels[i]!, r.pixels[i + 1]!, r.pixels[i + 2]!];
}

export function hex(c: string): [number, number, number] {
  const n = parseInt(c.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function near(a: readonly number[], b: readonly number[], tol: number): boolean {
  return Math.abs(a[0]! - b[0]!) <= tol && Math.abs(a[1]! - b[1]!) <= tol && Math.abs(a[2]! - b[2]!) <= tol;
}

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The figure without its legends (every `<g class="legend">` removed). */
export function withoutLegends(svg: string): string {
  const out = svg.replace(/<g class="legend">[\s\S]*?<\/g>/g, '');
  expect(out).not.toBe(svg);
  return out;
}

/**
 * Where the legends are, found from pixels: the bounding boxes of the pixels that change when the
 * legends are removed, one box per horizontal band `[from, to)` of x.
 */
export function legendBoxes(full: Raster, bare: Raster, bands: Array<[number, number]>): Box[] {
  return bands.map(([from, to]) => {
    const box: Box = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
    for (let y = 0; y < full.height; y++) {
      for (let x = from; x < to; x++) {
        if (near(rgbAt(full, x, y), rgbAt(bare, x, y), 0)) continue;
        box.x0 = Math.min(box.x0, x);
        box.y0 = Math.min(box.y0, y);
        box.x1 = Math.max(box.x1, x);
        box.y1 = Math.max(box.y1, y);
      }
    }
    return box;
  });
}

/** Pixels of `bare` (the figure without legends) in one of `colors`, i.e. drawn curves. */
export function curvePixels(bare: Raster, colors: string[], inside?: Box): number {
  const rgbs = colors.map(hex);
  let n = 0;
  for (let y = 0; y < bare.height; y++) {
    for (let x = 0; x < bare.width; x++) {
      if (inside && (x < inside.x0 || x > inside.x1 || y < inside.y0 || y > inside.y1)) continue;
      const px = rgbAt(bare, x, y);
      if (rgbs.some((c) => near(px, c, 40))) n++;
    }
  }
  return n;
}
