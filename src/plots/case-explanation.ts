/**
 * One case, explained: for each ROI, its axial slices (as the encoder saw them) with the auxiliary
 * segmentation overlaid in colour (the reference mask, when given, as white outlines), and under each
 * slice a bar for the slice-attention weight the ROI branch gave it. Padding slices are shown greyed.
 *
 * All bars share one scale for the whole figure (not each ROI's own maximum, which would turn a
 * near-uniform 0.12 vs 0.13 into a row of full bars), and a dashed line marks each ROI's uniform weight
 * 1/D (D = its real slices): bars at the line mean "no preference", a bar far above it "this slice
 * matters".
 */

import { MrnError } from '../errors.js';
import { pngDataUri } from './png.js';
import { escapeXml, PALETTE } from './svg.js';

/** One ROI of {@link caseExplanationSvg}. */
export interface RoiExplanation {
  /** ROI id (e.g. `qsm-mb`). */
  roiId: string;
  /** Slices `[D, S, S]` (row-major, row 0 = anterior), any intensity range. */
  slices: Float32Array;
  /** Number of slices D. */
  depth: number;
  /** Slice size S. */
  size: number;
  /** `[D]` 1 for real slices, 0 for padding. */
  valid: ArrayLike<number>;
  /** `[D]` slice-attention weights (sum 1 over valid slices). */
  sliceAttention: ArrayLike<number>;
  /** `[D, S, S]` class ids predicted by the aux head (0 = background), overlaid in colour. */
  predicted?: Int32Array;
  /** `[D, S, S]` reference class ids, drawn as outlines. */
  truth?: Int32Array;
  /** Names of classes 1.. for the legend. */
  classNames?: string[];
}

/** Input of {@link caseExplanationSvg}. */
export interface CaseExplanationInput {
  caseId: string;
  /** Predicted probability of PD. */
  probPd: number;
  /** True label, if known. */
  label?: number;
  rois: RoiExplanation[];
  /** Attention of the patient fusion over ROIs, if the model has one. */
  roiAttention?: Record<string, number>;
  /** Tile size in pixels (default 96). */
  tile?: number;
}

function hexToRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** A robust display window: 1st to 99th percentile of the valid slices' values. */
function displayWindow(
  values: Float32Array,
  depth: number,
  size: number,
  valid: ArrayLike<number>,
): [number, number] {
  const sample: number[] = [];
  const per = size * size;
  const stride = Math.max(1, Math.floor((depth * per) / 20000));
  for (let d = 0; d < depth; d++) {
    if (!valid[d]) continue;
    for (let i = 0; i < per; i += stride) {
      const v = values[d * per + i]!;
      if (Number.isFinite(v)) sample.push(v);
    }
  }
  if (sample.length === 0) return [0, 1];
  sample.sort((a, b) => a - b);
  const lo = sample[Math.floor(0.01 * (sample.length - 1))]!;
  const hi = sample[Math.floor(0.99 * (sample.length - 1))]!;
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

/** The colour of the uniform-weight (1/D) marker over the attention bars. */
const UNIFORM_COLOR = '#D55E00';
/** The colour of the attention bars. */
const BAR_COLOR = '#0072B2';

/** The smallest of 1, 2, 2.5 or 5 times a power of ten that is >= `v` (a round top for the bar scale). */
export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * mag >= v * (1 - 1e-12)) return f * mag;
  return 10 * mag;
}

/** Number of real (non-padding) slices of an ROI. */
function validCount(roi: RoiExplanation): number {
  let n = 0;
  for (let d = 0; d < roi.depth; d++) if (roi.valid[d]) n++;
  return n;
}

/**
 * The attention value at the top of every bar of the figure: a round number above every ROI's largest
 * valid weight and its uniform weight 1/D, so that the bars of all ROIs compare directly.
 */
export function attentionScaleTop(rois: readonly RoiExplanation[]): number {
  let top = 0;
  for (const roi of rois) {
    const n = validCount(roi);
    if (n > 0) top = Math.max(top, 1 / n);
    for (let d = 0; d < roi.depth; d++) {
      const a = Number(roi.sliceAttention[d]);
      if (roi.valid[d] && Number.isFinite(a)) top = Math.max(top, a);
    }
  }
  return niceCeil(top);
}

/** Renders slice `d` of an ROI as RGB bytes with overlays. */
function renderSlice(roi: RoiExplanation, d: number, window: [number, number]): Uint8Array {
  const s = roi.size;
  const per = s * s;
  const rgb = new Uint8Array(per * 3);
  const isValid = Boolean(roi.valid[d]);
  for (let i = 0; i < per; i++) {
    const v = roi.slices[d * per + i]!;
    let g = Math.round(((v - window[0]) / (window[1] - window[0])) * 255);
    g = Math.max(0, Math.min(255, Number.isFinite(g) ? g : 0));
    let r = g;
    let gg = g;
    let b = g;
    const cls = roi.predicted?.[d * per + i] ?? 0;
    if (isValid && cls > 0) {
      const [cr, cg, cb] = hexToRgb(PALETTE[(cls - 1) % PALETTE.length]!);
      r = Math.round(0.55 * r + 0.45 * cr);
      gg = Math.round(0.55 * gg + 0.45 * cg);
      b = Math.round(0.55 * b + 0.45 * cb);
    }
    if (isValid && roi.truth) {
      const t = roi.truth[d * per + i]!;
      const x = i % s;
      const y = Math.floor(i / s);
      const differs = (dx: number, dy: number) => {
        const xx = x + dx;
        const yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= s || yy >= s) return false;
        return roi.truth![d * per + yy * s + xx] !== t;
      };
      if (t > 0 && (differs(1, 0) || differs(-1, 0) || differs(0, 1) || differs(0, -1))) {
        r = 255;
        gg = 255;
        b = 255;
      }
    }
    if (!isValid) {
      r = gg = b = 40 + Math.round(g * 0.2);
    }
    rgb[i * 3] = r;
    rgb[i * 3 + 1] = gg;
    rgb[i * 3 + 2] = b;
  }
  return rgb;
}

/**
 * The explanation figure of one case as an SVG document (slices embedded as PNG). Throws
 * `E_INVALID_ARGUMENT` when an ROI's arrays do not match its `depth` and `size`.
 */
export function caseExplanationSvg(input: CaseExplanationInput): string {
  const tile = input.tile ?? 96;
  checkExplanationInput(input);
  const layout: RowLayout = { tile, labelW: 120, barH: 48, scaleTop: attentionScaleTop(input.rois) };
  const rowH = tile + layout.barH + 28;
  const maxD = Math.max(...input.rois.map((r) => r.depth));
  const width = Math.max(480, layout.labelW + maxD * (tile + 4) + 10); // room for the caption
  const top = 64;
  const height = top + input.rois.length * rowH + 20;
  const parts: string[] = [];
  const verdict = input.probPd >= 0.5 ? 'PD' : 'HC';
  const truth = input.label === undefined ? '' : `, true label ${input.label === 1 ? 'PD' : 'HC'}`;
  parts.push(
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(input.caseId)}: P(PD) = ${input.probPd.toFixed(3)} → ${verdict}${truth}</text>`,
  );
  parts.push(
    `<text x="10" y="40" font-size="11" fill="#555">colour: aux segmentation; white outline: reference mask</text>`,
    `<text x="10" y="54" font-size="11" fill="#555">bars: slice attention, one scale (0 to ${layout.scaleTop}) for all ROIs; dashes: uniform weight 1/D</text>`,
  );
  input.rois.forEach((roi, r) => {
    parts.push(...roiRowSvg(roi, top + r * rowH, input.roiAttention?.[roi.roiId], layout));
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** Throws `E_INVALID_ARGUMENT` for no ROIs, or an ROI whose arrays do not match its depth and size. */
function checkExplanationInput(input: CaseExplanationInput): void {
  if (input.rois.length === 0)
    throw new MrnError('E_INVALID_ARGUMENT', 'caseExplanationSvg: no ROIs to show');
  for (const roi of input.rois) {
    const n = roi.depth * roi.size * roi.size;
    const bad =
      roi.slices.length !== n ||
      roi.valid.length !== roi.depth ||
      roi.sliceAttention.length !== roi.depth ||
      (roi.predicted && roi.predicted.length !== n) ||
      (roi.truth && roi.truth.length !== n);
    if (bad) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `caseExplanationSvg: ROI '${roi.roiId}' arrays do not match depth ${roi.depth} and size ${roi.size} (slices ${roi.slices.length}, valid ${roi.valid.length}, attention ${roi.sliceAttention.length})`,
      );
    }
  }
}

/** Sizes shared by every row of the figure. */
interface RowLayout {
  /** Side of a slice tile, px. */
  tile: number;
  /** Width of the label column, px. */
  labelW: number;
  /** Height of the attention bars, px. */
  barH: number;
  /** Attention value at the top of the bars ({@link attentionScaleTop}). */
  scaleTop: number;
}

/** One ROI's row starting at `y0`: its label and legend, the bar scale, and a column per slice. */
function roiRowSvg(roi: RoiExplanation, y0: number, roiAtt: number | undefined, layout: RowLayout): string[] {
  const { tile, labelW, barH, scaleTop } = layout;
  const parts: string[] = [];
  const window = displayWindow(roi.slices, roi.depth, roi.size, roi.valid);
  parts.push(
    `<text x="10" y="${y0 + tile / 2}" font-size="13" font-weight="bold">${escapeXml(roi.roiId)}</text>`,
  );
  if (roiAtt !== undefined) {
    parts.push(
      `<text x="10" y="${y0 + tile / 2 + 16}" font-size="11">ROI weight ${roiAtt.toFixed(2)}</text>`,
    );
  }
  if (roi.classNames) {
    roi.classNames.forEach((name, k) => {
      parts.push(
        `<text x="10" y="${y0 + tile / 2 + 32 + k * 12}" font-size="10" fill="${PALETTE[k % PALETTE.length]}">■ ${escapeXml(name)}</text>`,
      );
    });
  }
  const base = y0 + tile + 4 + barH;
  const nValid = validCount(roi);
  const uniformY = nValid > 0 ? base - (1 / nValid / scaleTop) * barH : undefined;
  parts.push(
    `<text x="${labelW - 4}" y="${base - barH + 8}" font-size="9" text-anchor="end" fill="#555">${scaleTop}</text>`,
    `<text x="${labelW - 4}" y="${base}" font-size="9" text-anchor="end" fill="#555">0</text>`,
  );
  if (uniformY !== undefined) {
    parts.push(
      `<text x="${labelW - 4}" y="${(uniformY + 3).toFixed(1)}" font-size="9" text-anchor="end" fill="${UNIFORM_COLOR}">1/${nValid}</text>`,
    );
  }
  for (let d = 0; d < roi.depth; d++) {
    parts.push(...sliceColumnSvg(roi, d, { y0, base, uniformY, window }, layout));
  }
  return parts;
}

/**
 * Slice `d` of an ROI's row: the slice image with overlays, its attention bar (with the uniform-weight
 * dashes on real slices) and the weight under it (`pad` for padding slices).
 */
function sliceColumnSvg(
  roi: RoiExplanation,
  d: number,
  row: { y0: number; base: number; uniformY: number | undefined; window: [number, number] },
  layout: RowLayout,
): string[] {
  const { tile, labelW, barH, scaleTop } = layout;
  const { y0, base, uniformY } = row;
  const parts: string[] = [];
  const x = labelW + d * (tile + 4);
  const uri = pngDataUri(renderSlice(roi, d, row.window), roi.size, roi.size);
  parts.push(
    `<image x="${x}" y="${y0}" width="${tile}" height="${tile}" href="${uri}" style="image-rendering:pixelated"/>`,
  );
  const a = Number(roi.sliceAttention[d]);
  const h = roi.valid[d] && Number.isFinite(a) ? (Math.max(0, a) / scaleTop) * barH : 0;
  parts.push(`<rect x="${x}" y="${base - barH}" width="${tile}" height="${barH}" fill="#f2f2f2"/>`);
  parts.push(
    `<rect x="${x}" y="${(base - h).toFixed(2)}" width="${tile}" height="${h.toFixed(2)}" fill="${BAR_COLOR}"/>`,
  );
  if (roi.valid[d] && uniformY !== undefined) {
    parts.push(
      `<line x1="${x}" y1="${uniformY.toFixed(2)}" x2="${x + tile}" y2="${uniformY.toFixed(2)}" stroke="${UNIFORM_COLOR}" stroke-width="1.5" stroke-dasharray="4,3"/>`,
    );
  }
  const text = roi.valid[d] ? a.toFixed(2) : 'pad';
  parts.push(
    `<text x="${x + tile / 2}" y="${y0 + tile + barH + 18}" font-size="10" text-anchor="middle">${text}</text>`,
  );
  return parts;
}
