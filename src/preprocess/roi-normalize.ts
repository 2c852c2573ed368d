/**
 * Intensity normalisation of ROI crops that keeps what Parkinson's disease changes.
 *
 * - **QSM** is magnetic susceptibility in physical units (ppb). PD raises it in the substantia nigra
 *   and red nucleus, so it is mapped through one fixed window for every subject:
 *   `(chi - lo) / (hi - lo)`, clipped to [0, 1]. Scaling each ROI by its own percentiles would divide
 *   by the very SN/RN iron the classifier must see: a PD midbrain crop, whose bright voxels are
 *   brighter, would be scaled down until it looks like a control's.
 * - **NM-MRI** has arbitrary scanner units, so it is expressed as a contrast ratio to a reference
 *   region with stable signal next to the SN, the crus cerebri (the standard NM-MRI background
 *   region), then mapped through a fixed ratio window. See {@link nmReference} for how the crus cerebri
 *   is found from the SN mask alone.
 * - Per-ROI percentile scaling exists only as an option ({@link normalizePercentile}) for images with
 *   no physical scale.
 *
 * All functions return new float32 volumes on the same grid; non-finite voxels become the value a
 * neutral voxel would get (0 ppb for QSM, the reference for NM, the low percentile otherwise).
 */

import { MrnError } from '../errors.js';
import { nucleusLrPairs } from './nucleus-labels.js';
import type { RoiCrop } from './roi-crop.js';
import { createVolume, type Volume } from './volume.js';

/**
 * Default QSM window in ppb, mapped to [0, 1]. Covers white matter (about -30 to -60 ppb relative to
 * CSF), thalamus/caudate/putamen (0-100), and the iron-rich GP, SN, RN and dentate (100-300, higher in
 * older subjects and in PD), leaving head-room before veins (> 350) saturate.
 */
export const QSM_WINDOW_PPB: readonly [number, number] = [-150, 350];

/**
 * Default window for the NM contrast ratio `I / I_crus`, mapped to [0, 1]. The crus cerebri sits at
 * 1 (mid-grey 0.5); SN pars compacta in controls is typically 1.1-1.4 times it, CSF below 1.
 */
export const NM_RATIO_WINDOW: readonly [number, number] = [0.5, 1.5];

/** Units a QSM image may be stored in. */
export type QsmUnit = 'ppb' | 'ppm';

/** Options of {@link normalizeQsm}. */
export interface QsmNormalizeOptions {
  /** Window in ppb mapped to [0, 1] (default {@link QSM_WINDOW_PPB}). */
  windowPpb?: readonly [number, number];
  /** Units the image is stored in (default `'ppb'`; `'ppm'` values are multiplied by 1000). */
  unit?: QsmUnit;
}

function checkWindow(w: readonly [number, number], what: string): void {
  if (
    !Array.isArray(w) ||
    w.length !== 2 ||
    !Number.isFinite(w[0]) ||
    !Number.isFinite(w[1]) ||
    !(w[1] > w[0])
  ) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `${what}: window must be [low, high] with low < high, got [${w}]`,
    );
  }
}

function mapWindow(
  volume: Volume,
  f: (v: number) => number,
  neutral: number,
  name: string,
): Volume<Float32Array> {
  const src = volume.data.data;
  const out = new Float32Array(src.length);
  for (let p = 0; p < src.length; p++) {
    const v = src[p]!;
    const y = Number.isFinite(v) ? f(v) : neutral;
    out[p] = y < 0 ? 0 : y > 1 ? 1 : y;
  }
  return createVolume(out, volume.shape, volume.affine, name);
}

/**
 * QSM to [0, 1] through a fixed physical window (see the module notes for why never per ROI).
 * @throws MrnError `E_INVALID_ARGUMENT` for a bad window or unit.
 */
export function normalizeQsm(volume: Volume, options: QsmNormalizeOptions = {}): Volume<Float32Array> {
  const { windowPpb = QSM_WINDOW_PPB, unit = 'ppb' } = options;
  checkWindow(windowPpb, 'normalizeQsm');
  if (unit !== 'ppb' && unit !== 'ppm') {
    throw new MrnError('E_INVALID_ARGUMENT', `normalizeQsm: unit must be 'ppb' or 'ppm', got '${unit}'`);
  }
  const toPpb = unit === 'ppm' ? 1000 : 1;
  const [lo, hi] = windowPpb;
  const inv = 1 / (hi - lo);
  return mapWindow(volume, (v) => (v * toPpb - lo) * inv, (0 - lo) * inv, volume.name ?? 'QSM');
}

/**
 * Guesses whether a QSM image is stored in ppm or ppb from the 99th percentile of |chi| inside the
 * given labels (deep grey matter): iron-rich nuclei reach 0.1-0.3 ppm, i.e. 100-300 ppb, so a
 * percentile below 2 can only be ppm. Returns `undefined` when the labels hold no voxels.
 */
export function guessQsmUnit(
  qsm: Volume,
  mask: Volume,
  labels: readonly number[] = [5, 6, 11, 12, 13, 14],
): QsmUnit | undefined {
  const want = new Set(labels);
  const values: number[] = [];
  const q = qsm.data.data;
  const m = mask.data.data;
  for (let p = 0; p < m.length; p++) {
    if (m[p] !== 0 && want.has(Math.round(m[p]!)) && Number.isFinite(q[p]!)) values.push(Math.abs(q[p]!));
  }
  if (!values.length) return undefined;
  values.sort((a, b) => a - b);
  const p99 = values[Math.min(values.length - 1, Math.floor(0.99 * values.length))]!;
  return p99 < 2 ? 'ppm' : 'ppb';
}

/** Options of {@link nmReference}. */
export interface NmReferenceOptions {
  /** SN labels in the NM mask as `[right, left]` pairs (default the NM mask's pairs, `[[1, 2]]`). */
  snPairs?: readonly (readonly [number, number])[];
  /** In-plane distance band from the SN border, in mm (default `[1, 5]`: exclusive low, inclusive high). */
  bandMm?: readonly [number, number];
  /** Fewest voxels for the anterolateral band; below it the whole ring is used (default 20). */
  minVoxels?: number;
}

/** The NM reference intensity and how it was found. */
export interface NmReference {
  /** Median image intensity of the reference voxels. */
  value: number;
  /** Number of reference voxels. */
  voxels: number;
  /**
   * `crus-cerebri`: the anterolateral band (the crus cerebri); `ring`: too few voxels there (tiny or
   * odd masks), so the whole ring around the SN was used.
   */
  method: 'crus-cerebri' | 'ring';
}

/**
 * Finds the NM-MRI reference intensity in the crus cerebri, from the SN mask alone.
 *
 * Anatomy: on the axial slices through the midbrain the crus cerebri (cerebral peduncle) lies
 * directly against the anterolateral border of the SN; medially in front of the SN is the
 * interpeduncular fossa (CSF, which must be avoided), posteriorly the tegmentum. So, for each SN side
 * and each axial slice holding it: take the voxels whose in-plane distance to that slice's SN voxels
 * is in `bandMm` (default 1-5 mm), that carry no mask label, that lie anterior of the slice's SN
 * centroid (larger j) and lateral of it (larger i for the right SN, smaller i for the left; RAS+).
 * The reference is the median image value over those voxels of both sides (the median resists
 * vessels and partial volume). If fewer than `minVoxels` qualify, the anterior/lateral restriction
 * is dropped (method `ring`).
 *
 * Requires canonical RAS+ volumes on one grid (the caller reorients; {@link cropRoi} checks it).
 * @throws MrnError `E_LABEL_MISSING` when the mask has no SN voxel; `E_NON_FINITE` when the reference is
 *   not a positive finite number (a ratio to it would be meaningless).
 */
export function nmReference(image: Volume, mask: Volume, options: NmReferenceOptions = {}): NmReference {
  const { snPairs = nucleusLrPairs('NM'), bandMm = [1, 5], minVoxels = 20 } = options;
  const side = new Map<number, 1 | -1>();
  for (const [r, l] of snPairs) {
    side.set(r, 1);
    side.set(l, -1);
  }
  const perSlice = snPixelsBySlice(mask, [...side.keys()]);
  const found: ReferenceVoxels = { band: [], ring: [] };
  let snVoxels = 0;
  for (const [label, dir] of side) {
    for (const [k, pts] of perSlice.get(label)!) {
      snVoxels += pts.length;
      collectAroundSnSlice(image, mask, { label, k, pts, lateral: dir }, bandMm, found);
    }
  }
  if (snVoxels === 0) {
    throw new MrnError(
      'E_LABEL_MISSING',
      `nmReference: the NM mask has no SN voxel (labels ${[...side.keys()]})`,
      {
        file: mask.name,
      },
    );
  }
  const useBand = found.band.length >= minVoxels;
  const values = useBand ? found.band : found.ring;
  const n = values.length;
  const value = medianInPlace(values);
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new MrnError(
      'E_NON_FINITE',
      `nmReference: crus cerebri reference intensity is ${value} (${n} voxels); NM contrast needs a positive reference`,
      { file: image.name },
    );
  }
  return { value, voxels: n, method: useBand ? 'crus-cerebri' : 'ring' };
}

/** Image values around the SN: the anterolateral `band` and the whole `ring`, in scan order. */
interface ReferenceVoxels {
  band: number[];
  ring: number[];
}

/** One SN label's pixels `[i, j]` on axial slice `k`; `lateral` is +1 for a right SN, -1 for a left. */
interface SnSlice {
  label: number;
  k: number;
  pts: [number, number][];
  lateral: 1 | -1;
}

/** One pass over the mask: the pixels `[i, j]` of each of `labels`, per axial slice (in slice order). */
function snPixelsBySlice(
  mask: Volume,
  labels: readonly number[],
): Map<number, Map<number, [number, number][]>> {
  const [nx, ny] = mask.shape;
  const m = mask.data.data;
  const perSlice = new Map<number, Map<number, [number, number][]>>();
  for (const label of labels) perSlice.set(label, new Map());
  for (let p = 0; p < m.length; p++) {
    if (m[p] === 0) continue;
    const bySlice = perSlice.get(Math.round(m[p]!));
    if (!bySlice) continue;
    const k = Math.floor(p / (nx * ny));
    const rest = p - k * nx * ny;
    const list = bySlice.get(k);
    const pt: [number, number] = [rest % nx, Math.floor(rest / nx)];
    if (list) list.push(pt);
    else bySlice.set(k, [pt]);
  }
  return perSlice;
}

/**
 * The outline of one SN slice: its border pixels (a 4-neighbour outside the label; the nearest SN
 * pixel to any outside pixel is one of them), centroid `(ci, cj)` and pixel bounding box.
 */
function snSliceOutline(mask: Volume, sn: SnSlice) {
  const [nx, ny] = mask.shape;
  const m = mask.data.data;
  const off = sn.k * nx * ny;
  const isLabel = (i: number, j: number) =>
    i >= 0 && i < nx && j >= 0 && j < ny && Math.round(m[off + j * nx + i]!) === sn.label;
  const border = sn.pts.filter(
    ([i, j]) => !isLabel(i - 1, j) || !isLabel(i + 1, j) || !isLabel(i, j - 1) || !isLabel(i, j + 1),
  );
  let ci = 0;
  let cj = 0;
  let iLo = nx;
  let iHi = -1;
  let jLo = ny;
  let jHi = -1;
  for (const [i, j] of sn.pts) {
    ci += i;
    cj += j;
    iLo = Math.min(iLo, i);
    iHi = Math.max(iHi, i);
    jLo = Math.min(jLo, j);
    jHi = Math.max(jHi, j);
  }
  ci /= sn.pts.length;
  cj /= sn.pts.length;
  return { border, ci, cj, iLo, iHi, jLo, jHi };
}

/**
 * Adds the finite image values of the unlabelled pixels of slice `sn.k` whose in-plane distance to
 * the SN is in `bandMm` to `found.ring`, and those also anterior and lateral of its centroid to
 * `found.band`.
 */
function collectAroundSnSlice(
  image: Volume,
  mask: Volume,
  sn: SnSlice,
  bandMm: readonly [number, number],
  found: ReferenceVoxels,
): void {
  const [nx, ny] = mask.shape;
  const [sx, sy] = mask.spacing;
  const m = mask.data.data;
  const img = image.data.data;
  const rMax = bandMm[1];
  const reachI = Math.ceil(rMax / sx);
  const reachJ = Math.ceil(rMax / sy);
  const off = sn.k * nx * ny;
  const { border, ci, cj, iLo, iHi, jLo, jHi } = snSliceOutline(mask, sn);
  for (let j = Math.max(0, jLo - reachJ); j <= Math.min(ny - 1, jHi + reachJ); j++) {
    for (let i = Math.max(0, iLo - reachI); i <= Math.min(nx - 1, iHi + reachI); i++) {
      const p = off + j * nx + i;
      if (m[p] !== 0) continue;
      let d2 = Infinity;
      for (const [pi, pj] of border) {
        const dx = (i - pi) * sx;
        const dy = (j - pj) * sy;
        const e = dx * dx + dy * dy;
        if (e < d2) d2 = e;
      }
      const d = Math.sqrt(d2);
      if (d <= bandMm[0] || d > bandMm[1]) continue;
      const v = img[p]!;
      if (!Number.isFinite(v)) continue;
      found.ring.push(v);
      if (j > cj && (i - ci) * sn.lateral >= 0) found.band.push(v);
    }
  }
}

/** The median of `values` (sorted in place); NaN when empty. */
function medianInPlace(values: number[]): number {
  values.sort((a, b) => a - b);
  const n = values.length;
  return n === 0 ? NaN : n % 2 ? values[(n - 1) / 2]! : 0.5 * (values[n / 2 - 1]! + values[n / 2]!);
}

/** Options of {@link normalizeNm}. */
export interface NmNormalizeOptions {
  /** Ratio window mapped to [0, 1] (default {@link NM_RATIO_WINDOW}). */
  window?: readonly [number, number];
}

/**
 * NM-MRI to [0, 1] as contrast ratio `I / reference` through a fixed window.
 * @throws MrnError `E_INVALID_ARGUMENT` for a non-positive reference or bad window.
 */
export function normalizeNm(
  volume: Volume,
  reference: number,
  options: NmNormalizeOptions = {},
): Volume<Float32Array> {
  const { window = NM_RATIO_WINDOW } = options;
  checkWindow(window, 'normalizeNm');
  if (!(reference > 0) || !Number.isFinite(reference)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `normalizeNm: reference must be a positive number, got ${reference}`,
    );
  }
  const [lo, hi] = window;
  const inv = 1 / (hi - lo);
  return mapWindow(volume, (v) => (v / reference - lo) * inv, (1 - lo) * inv, volume.name ?? 'NM');
}

/** Options of {@link normalizePercentile}. */
export interface PercentileNormalizeOptions {
  /** Low and high percentiles (0-100) mapped to 0 and 1 (default `[1, 99]`). */
  percentiles?: readonly [number, number];
}

/**
 * Maps a volume's own `[p_low, p_high]` percentiles to [0, 1] (clipped). Only for images without a
 * physical scale: on QSM it would erase the disease's iron increase (see the module notes).
 */
export function normalizePercentile(
  volume: Volume,
  options: PercentileNormalizeOptions = {},
): Volume<Float32Array> {
  const { percentiles = [1, 99] } = options;
  checkWindow(percentiles, 'normalizePercentile');
  const finite = Float64Array.from(volume.data.data).filter(Number.isFinite).sort();
  if (!finite.length) {
    throw new MrnError('E_NON_FINITE', 'normalizePercentile: the volume has no finite voxel', {
      file: volume.name,
    });
  }
  const at = (p: number) =>
    finite[Math.min(finite.length - 1, Math.max(0, Math.round((p / 100) * (finite.length - 1))))]!;
  const lo = at(percentiles[0]);
  const hi = at(percentiles[1]);
  const inv = hi > lo ? 1 / (hi - lo) : 0;
  return mapWindow(volume, (v) => (v - lo) * inv, 0, volume.name ?? 'image');
}

/** How {@link normalizeRoiImage} scales a crop's intensities. */
export type RoiIntensity =
  | ({ kind: 'qsm' } & QsmNormalizeOptions)
  | ({ kind: 'nm'; reference: number } & NmNormalizeOptions)
  | ({ kind: 'percentile' } & PercentileNormalizeOptions)
  | { kind: 'none' };

/** A copy of `crop` with its image normalised as `intensity` says (mask, box and flags shared). */
export function normalizeRoiImage(crop: RoiCrop, intensity: RoiIntensity): RoiCrop {
  let image: Volume<Float32Array>;
  switch (intensity.kind) {
    case 'qsm':
      image = normalizeQsm(crop.image, intensity);
      break;
    case 'nm':
      image = normalizeNm(crop.image, intensity.reference, intensity);
      break;
    case 'percentile':
      image = normalizePercentile(crop.image, intensity);
      break;
    case 'none':
      image = crop.image;
      break;
    default:
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `normalizeRoiImage: unknown intensity kind '${(intensity as { kind: string }).kind}'`,
      );
  }
  // Padded (invalid) slices stay 0 whatever the mapping gives for 0 input.
  if (image !== crop.image) {
    const [nx, ny, D] = image.shape;
    for (let z = 0; z < D; z++) if (!crop.valid[z]) image.data.data.fill(0, z * nx * ny, (z + 1) * nx * ny);
  }
  return { ...crop, image };
}
