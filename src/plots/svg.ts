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
  /**
   * Where the legend goes, always outside the plot area so that it never covers data: `right` (default)
   * takes a column of the panel's `width` right of the plot; `below` takes `legendHeight` of the
   * panel's `height` under the x-axis label, one entry a row.
   */
  legend?: 'right' | 'below';
}

/** Height of one legend entry, in pixels. */
const LEGEND_ROW = 14;
/** Approximate advance of one legend character at font size 11 (sans-serif), in pixels. */
const LEGEND_CHAR = 6.2;
/** Length of a legend swatch line plus the gap before its text, in pixels. */
const LEGEND_SWATCH = 22;

/** Pixels a `below` legend of `entries` rows takes from a {@link linePanel}'s height. */
export function legendHeight(entries: number): number {
  return entries > 0 ? 8 + entries * LEGEND_ROW : 0;
}

/** The smallest panel height whose `right` legend of `entries` rows fits beside the plot. */
export function minHeightForRightLegend(entries: number): number {
  return 30 + 7 + entries * LEGEND_ROW + 44;
}

function legendWidth(series: readonly Series[]): number {
  const longest = Math.max(0, ...series.map((s) => s.name.length));
  return series.length > 0 ? 14 + LEGEND_SWATCH + LEGEND_CHAR * longest : 0;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

/**
 * A line-chart panel (axes, ticks, grid, lines, legend) as an SVG `<g>` element of `width` x `height`
 * pixels, legend included. The legend is a `<g class="legend">` outside the plot area.
 */
export function linePanel(o: LinePanelOptions): string {
  const g = panelGeometry(o);
  const { m, pw, ph } = g;
  const parts: string[] = [
    `<g transform="translate(${o.x ?? 0},${o.y ?? 0})" font-family="sans-serif" font-size="11">`,
  ];
  parts.push(
    `<text x="${g.w / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`,
  );
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="white" stroke="#444"/>`);
  parts.push(...axesSvg(o, g));
  // Lines are clipped to the plot area (2 px of slack for the stroke), so out-of-range data cannot
  // spill into the axes or the legend.
  const clip = `${m.left - 2} ${m.top - 2} ${pw + 4} ${ph + 4}`;
  parts.push(
    `<svg x="${m.left - 2}" y="${m.top - 2}" width="${pw + 4}" height="${ph + 4}" viewBox="${clip}" overflow="hidden"><g>`,
  );
  if (o.underlay) parts.push(o.underlay(g.sx, g.sy));
  o.series.forEach((s, i) => parts.push(...seriesSvg(s, i, g)));
  parts.push('</g></svg>');
  parts.push('<g class="legend">');
  o.series.forEach((s, i) => parts.push(...legendEntrySvg(s, i, g)));
  parts.push('</g>');
  parts.push('</g>');
  return parts.join('\n');
}

/** Where a panel's plot area lies and how data maps into it. */
interface PanelGeometry {
  /** Panel width and height (legend below excluded), px. */
  w: number;
  h: number;
  /** Margins around the plot area, px. */
  m: { left: number; right: number; top: number; bottom: number };
  /** Plot area width and height, px. */
  pw: number;
  ph: number;
  /** Data ranges shown on x and y. */
  xs: [number, number];
  ys: [number, number];
  /** Data to pixel, x and y. */
  sx: (v: number) => number;
  sy: (v: number) => number;
  place: 'right' | 'below';
}

/**
 * The panel's geometry: the legend's room (right or below), and data ranges from the options or the
 * finite points (y padded by 5%; an empty or flat range widened to one unit).
 */
function panelGeometry(o: LinePanelOptions): PanelGeometry {
  const w = o.width ?? 420;
  const place = o.legend ?? 'right';
  const below = place === 'below' ? legendHeight(o.series.length) : 0;
  const h = (o.height ?? 300) - below;
  const m = { left: 58, right: 14 + (place === 'right' ? legendWidth(o.series) : 0), top: 30, bottom: 44 };
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
  return { w, h, m, pw, ph, xs, ys, sx, sy, place };
}

/** Grid lines and tick labels of both axes, and the axis titles. */
function axesSvg(o: LinePanelOptions, g: PanelGeometry): string[] {
  const { m, pw, ph, sx, sy, h } = g;
  const parts: string[] = [];
  for (const t of niceTicks(g.xs[0], g.xs[1], 6)) {
    const px = sx(t).toFixed(1);
    parts.push(`<line x1="${px}" y1="${m.top}" x2="${px}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${px}" y="${m.top + ph + 14}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(g.ys[0], g.ys[1], 5)) {
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
  return parts;
}

/** One series' line (broken at non-finite points), or a dot when it has a single point. */
function seriesSvg(s: Series, i: number, g: PanelGeometry): string[] {
  const { sx, sy } = g;
  const parts: string[] = [];
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
  return parts;
}

/** One series' legend entry: right of the plot area from its top, or under the x-axis label. */
function legendEntrySvg(s: Series, i: number, g: PanelGeometry): string[] {
  const { m, pw, h, place } = g;
  const color = s.color ?? PALETTE[i % PALETTE.length]!;
  // Never over the data.
  const lx = place === 'right' ? m.left + pw + 14 : m.left;
  const ly = place === 'right' ? m.top + 7 + i * LEGEND_ROW : h + 8 + i * LEGEND_ROW;
  return [
    `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`,
    `<text x="${lx + LEGEND_SWATCH}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
  ];
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
