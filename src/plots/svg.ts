/**
 * A small SVG toolkit for mrn's plots: escaping, "nice" axis ticks and a line-chart panel. Plots are
 * plain SVG text (no browser, no native dependency), readable in any browser or image viewer.
 */

/** Escapes text for SVG element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

/** A colour-blind-safe palette (Okabe-Ito), cycled by series index. */
export const PALETTE = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#F0E442',
  '#000000',
];

/** Round numbers for numbers of the same size: 1, 2 or 5 times a power of ten. */
function niceStep(span: number, maxTicks: number): number {
  const raw = span / Math.max(1, maxTicks);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

/** Tick values covering [min, max] with round numbers (about `maxTicks` of them). */
export function niceTicks(min: number, max: number, maxTicks = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max === min) return [min];
  const step = niceStep(max - min, maxTicks);
  const first = Math.ceil(min / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** One line of a {@link linePanel}. */
export interface Series {
  /** Legend text. */
  name: string;
  /** `[x, y]` points; non-finite y values break the line. */
  points: Array<[number, number]>;
  /** Stroke colour (default: palette by index). */
  color?: string;
  /** Dashed line. */
  dashed?: boolean;
}

/** Options of {@link linePanel}. */
export interface LinePanelOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Panel origin in the enclosing SVG. */
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  /** Fixed axis ranges (default: the data's range). */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Extra SVG drawn in data coordinates' pixel space, e.g. a diagonal (receives the scales). */
  underlay?: (sx: (v: number) => number, sy: (v: number) => number) => string;
  /** Where the legend goes (default `top-left`; ROC curves want `bottom-right`). */
  legend?: 'top-left' | 'bottom-right';
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

/** A line-chart panel (axes, ticks, grid, lines, legend) as an SVG `<g>` element. */
export function linePanel(o: LinePanelOptions): string {
  const x0 = o.x ?? 0;
  const y0 = o.y ?? 0;
  const w = o.width ?? 420;
  const h = o.height ?? 300;
  const m = { left: 58, right: 14, top: 30, bottom: 44 };
  const all = o.series.flatMap((s) => s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])));
  const xr = o.xRange ?? [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let yr = o.yRange ?? [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (all.length === 0) yr = [0, 1];
  const xs: [number, number] = Number.isFinite(xr[0]) && xr[1] > xr[0] ? xr : [xr[0] || 0, (xr[0] || 0) + 1];
  const pad = (yr[1] - yr[0]) * 0.05 || Math.abs(yr[0]) * 0.1 || 1;
  const ys: [number, number] = o.yRange ?? [yr[0] - pad, yr[1] + pad];
  const pw = w - m.left - m.right;
  const ph = h - m.top - m.bottom;
  const sx = (v: number) => m.left + ((v - xs[0]) / (xs[1] - xs[0])) * pw;
  const sy = (v: number) => m.top + ph - ((v - ys[0]) / (ys[1] - ys[0])) * ph;
  const parts: string[] = [`<g transform="translate(${x0},${y0})" font-family="sans-serif" font-size="11">`];
  parts.push(
    `<text x="${w / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`,
  );
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="white" stroke="#444"/>`);
  for (const t of niceTicks(xs[0], xs[1], 6)) {
    const px = sx(t).toFixed(1);
    parts.push(`<line x1="${px}" y1="${m.top}" x2="${px}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${px}" y="${m.top + ph + 14}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(ys[0], ys[1], 5)) {
    const py = sy(t).toFixed(1);
    parts.push(`<line x1="${m.left}" y1="${py}" x2="${m.left + pw}" y2="${py}" stroke="#e5e5e5"/>`);
    parts.push(
      `<text x="${m.left - 5}" y="${py}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
    );
  }
  parts.push(`<text x="${m.left + pw / 2}" y="${h - 8}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(14,${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`,
  );
  parts.push(`<svg x="0" y="0" width="${w}" height="${h}" overflow="hidden"><g>`);
  if (o.underlay) parts.push(o.underlay(sx, sy));
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    let d = '';
    let pen = false;
    for (const [px, py] of s.points) {
      if (!Number.isFinite(px) || !Number.isFinite(py)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${sx(px).toFixed(2)},${sy(py).toFixed(2)}`;
      pen = true;
    }
    if (d) {
      parts.push(
        `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`,
      );
    }
    if (s.points.length === 1 && Number.isFinite(s.points[0]![1])) {
      parts.push(`<circle cx="${sx(s.points[0]![0])}" cy="${sy(s.points[0]![1])}" r="3" fill="${color}"/>`);
    }
  });
  parts.push('</g></svg>');
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const bottom = o.legend === 'bottom-right';
    const ly = bottom ? m.top + ph - 10 - (o.series.length - 1 - i) * 14 : m.top + 12 + i * 14;
    const lx = bottom ? m.left + pw - 36 - 6.2 * Math.max(...o.series.map((q) => q.name.length)) : m.left + 8;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`,
    );
    parts.push(`<text x="${lx + 22}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  parts.push('</g>');
  return parts.join('\n');
}

/** Wraps panels in a complete SVG document of the given size. */
export function svgDocument(width: number, height: number, body: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}
