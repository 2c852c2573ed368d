/**
 * The classical features of the PD/HC baseline: per-nucleus mean susceptibility (QSM labels 1-16),
 * NM-visible SN volume and SN neuromelanin contrast (both sides). These are the measurements the
 * QSM and NM-MRI literature reports group differences on, so they are the first thing to beat.
 */

import { MrnError } from '../errors.js';
import type { Volume } from '../preprocess/volume.js';
import { QSM_NUCLEUS_NAMES as QSM_LABEL_NAMES } from '../preprocess/nucleus-labels.js';

/** The feature names, in the order {@link extractBaselineFeatures} returns values. */
export const BASELINE_FEATURE_NAMES: readonly string[] = [
  ...QSM_LABEL_NAMES.map((n) => `qsm_mean_${n}`),
  'nm_sn_volume_R',
  'nm_sn_volume_L',
  'nm_sn_contrast_R',
  'nm_sn_contrast_L',
];

/** The four co-registered volumes of one case. */
export interface BaselineCaseVolumes {
  /** QSM image (ppb or ppm; the baseline standardises features). */
  qsm: Volume;
  /** NM-MRI image. */
  nm: Volume;
  /** QSM nucleus mask, labels 1-16. */
  qsmMask: Volume;
  /** NM SN mask, labels 1 (right) and 2 (left). */
  nmMask: Volume;
}

/** Options of {@link extractBaselineFeatures}. */
export interface BaselineFeatureOptions {
  /** Inner radius of the NM reference ring around the SN, in-plane voxels. Default 3. */
  ringInner?: number;
  /** Outer radius of the NM reference ring, in-plane voxels. Default 7. */
  ringOuter?: number;
  /** Case id for error messages. */
  caseId?: string;
}

/**
 * Computes the {@link BASELINE_FEATURE_NAMES} features of one case:
 * - `qsm_mean_*`: mean QSM over each of the 16 labels;
 * - `nm_sn_volume_*`: NM mask label volume, cm^3;
 * - `nm_sn_contrast_*`: mean NM over the SN mask divided by a local reference, minus 1. The
 *   reference (no crus cerebri label exists in the challenge masks) is the median NM over an in-plane
 *   ring `ringInner..ringOuter` voxels around the SN, on the SN's slices, outside every labelled voxel:
 *   mostly cerebral peduncle and tegmentum, the background NM-MRI studies use.
 *
 * Errors: `E_GRID_MISMATCH` when the volumes' shapes differ, `E_LABEL_MISSING` when a label is empty.
 */
export function extractBaselineFeatures(
  volumes: BaselineCaseVolumes,
  options: BaselineFeatureOptions = {},
): number[] {
  const { qsm, nm, qsmMask, nmMask } = volumes;
  const caseId = options.caseId;
  const shape = qsm.shape;
  for (const [name, v] of [
    ['NM', nm],
    ['QSM_mask', qsmMask],
    ['NM_mask', nmMask],
  ] as const) {
    if (v.shape.join() !== shape.join()) {
      throw new MrnError(
        'E_GRID_MISMATCH',
        `baseline features: ${name} has shape [${v.shape}] but QSM has [${shape}]`,
        { caseId, file: v.name, details: { expected: shape, actual: v.shape } },
      );
    }
  }
  const q = qsm.data.data;
  const m = qsmMask.data.data;
  const sums = new Float64Array(17);
  const counts = new Float64Array(17);
  for (let v = 0; v < m.length; v++) {
    const l = m[v]!;
    if (l >= 1 && l <= 16) {
      sums[l] += q[v]!;
      counts[l]++;
    }
  }
  const features: number[] = [];
  for (let l = 1; l <= 16; l++) {
    if (counts[l] === 0) {
      throw new MrnError(
        'E_LABEL_MISSING',
        `baseline features: QSM mask has no voxel of label ${l} (${QSM_LABEL_NAMES[l - 1]})`,
        {
          caseId,
          file: qsmMask.name,
          details: { label: l },
        },
      );
    }
    features.push(sums[l]! / counts[l]!);
  }
  const voxelCm3 = (nmMask.spacing[0] * nmMask.spacing[1] * nmMask.spacing[2]) / 1000;
  const sn = [1, 2].map((l) => snMeasures(volumes, l, options));
  features.push(sn[0]!.voxels * voxelCm3, sn[1]!.voxels * voxelCm3, sn[0]!.contrast, sn[1]!.contrast);
  return features;
}

/**
 * Voxel count and NM contrast of one SN side: the mean NM signal inside the label over the median of
 * an in-plane reference ring around it (`ringInner` to `ringOuter` voxels out, unlabelled voxels
 * only), minus 1.
 */
function snMeasures(
  { nm, qsmMask, nmMask }: BaselineCaseVolumes,
  label: number,
  options: BaselineFeatureOptions,
): { voxels: number; contrast: number } {
  const inner = options.ringInner ?? 3;
  const outer = options.ringOuter ?? 7;
  const [nx, ny] = nmMask.shape;
  const mask = nmMask.data.data;
  const img = nm.data.data;
  const labels = qsmMask.data.data;
  const found = labelExtent(nmMask, img, label);
  if (found.voxels === 0) {
    throw new MrnError(
      'E_LABEL_MISSING',
      `baseline features: NM mask has no voxel of label ${label} (SN_${label === 1 ? 'R' : 'L'})`,
      {
        caseId: options.caseId,
        file: nmMask.name,
        details: { label },
      },
    );
  }
  const { voxels, sum, k0, k1 } = found;
  // In-plane ring by repeated 4-neighbour dilation inside the box widened by `outer`.
  const box: PlaneBox = {
    i0: Math.max(0, found.i0 - outer),
    i1: Math.min(nx - 1, found.i1 + outer),
    j0: Math.max(0, found.j0 - outer),
    j1: Math.min(ny - 1, found.j1 + outer),
  };
  const w = box.i1 - box.i0 + 1;
  const ring: number[] = [];
  for (let k = k0; k <= k1; k++) {
    const dist = dilationDistances(nmMask, label, k, box, outer);
    for (let b = 0; b < dist.length; b++) {
      if (dist[b]! < inner) continue;
      const bi = b % w;
      const bj = (b - bi) / w;
      const v = (k * ny + (bj + box.j0)) * nx + (bi + box.i0);
      if (mask[v] === 0 && labels[v] === 0) ring.push(img[v]!);
    }
  }
  if (ring.length === 0) {
    throw new MrnError(
      'E_LABEL_MISSING',
      `baseline features: no unlabelled reference voxels around NM label ${label}`,
      {
        caseId: options.caseId,
        file: nm.name,
      },
    );
  }
  ring.sort((a, b) => a - b);
  const ref = ring[Math.floor(ring.length / 2)]!;
  return { voxels, contrast: ref !== 0 ? sum / voxels / ref - 1 : 0 };
}

/** An in-plane box of voxel indices, bounds inclusive. */
interface PlaneBox {
  i0: number;
  i1: number;
  j0: number;
  j1: number;
}

/** Voxels of `label` in `mask`, the sum of `img` over them, and their bounding box (inclusive). */
function labelExtent(
  mask: Volume,
  img: ArrayLike<number>,
  label: number,
): PlaneBox & { voxels: number; sum: number; k0: number; k1: number } {
  const [nx, ny, nz] = mask.shape;
  const m = mask.data.data;
  const r = { voxels: 0, sum: 0, i0: nx, i1: -1, j0: ny, j1: -1, k0: nz, k1: -1 };
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      const row = (k * ny + j) * nx;
      for (let i = 0; i < nx; i++) {
        if (m[row + i] !== label) continue;
        r.voxels++;
        r.sum += img[row + i]!;
        if (i < r.i0) r.i0 = i;
        if (i > r.i1) r.i1 = i;
        if (j < r.j0) r.j0 = j;
        if (j > r.j1) r.j1 = j;
        if (k < r.k0) r.k0 = k;
        if (k > r.k1) r.k1 = k;
      }
    }
  }
  return r;
}

/**
 * In slice `k`, each voxel's 4-neighbour distance (in steps, up to `maxSteps`) from `label` within
 * `box`, row-major over the box; -1 beyond `maxSteps`.
 */
function dilationDistances(
  mask: Volume,
  label: number,
  k: number,
  box: PlaneBox,
  maxSteps: number,
): Int16Array {
  const [nx, ny] = mask.shape;
  const m = mask.data.data;
  const w = box.i1 - box.i0 + 1;
  const h = box.j1 - box.j0 + 1;
  const dist = new Int16Array(w * h).fill(-1);
  let frontier: number[] = [];
  for (let j = box.j0; j <= box.j1; j++) {
    for (let i = box.i0; i <= box.i1; i++) {
      if (m[(k * ny + j) * nx + i] === label) {
        const b = (j - box.j0) * w + (i - box.i0);
        dist[b] = 0;
        frontier.push(b);
      }
    }
  }
  for (let step = 1; step <= maxSteps && frontier.length > 0; step++) {
    const next: number[] = [];
    for (const b of frontier) {
      const bi = b % w;
      const bj = (b - bi) / w;
      for (const [di, dj] of [
        [1, 0],
        [-1, 0],
        [0, 1],
        [0, -1],
      ] as const) {
        const ni = bi + di;
        const nj = bj + dj;
        if (ni < 0 || nj < 0 || ni >= w || nj >= h) continue;
        const nb = nj * w + ni;
        if (dist[nb] !== -1) continue;
        dist[nb] = step;
        next.push(nb);
      }
    }
    frontier = next;
  }
  return dist;
}
