/**
 * Synthetic anatomy: where the 16 deep grey-matter nuclei (and the NM-visible substantia nigra) lie in
 * one subject, and their voxel masks on the challenge grid.
 *
 * Shapes come from {@link NUCLEUS_TEMPLATES} (mean swept-ellipse shapes measured on five real mask
 * sets), rescaled to the population mean volumes in `docs/design.md`. Each subject gets a head shift, and per
 * nucleus a small shift, rotation, isotropic scale and a smooth non-elliptical shape perturbation
 * (2nd/3rd angular harmonics of the cross-section that vary along the nucleus), so no two subjects,
 * and no two sides, have the same masks.
 */

import { MrnError } from '../errors.js';
import type { Rng } from '../rng.js';
import { QSM_NUCLEUS_NAMES, type NucleusName } from '../preprocess/nucleus-labels.js';
import type { Affine } from '../preprocess/volume.js';
import { NUCLEUS_TEMPLATES } from './templates.js';
import { placeShape, type PlacedShape } from './shape-placement.js';

export type { PlacedShape } from './shape-placement.js';

/** The in-plane voxel size of the PDCADxFoundation release, mm. */
export const CHALLENGE_INPLANE_MM = 2 / 3;
/** The slice thickness of the PDCADxFoundation release, mm. */
export const CHALLENGE_SLICE_MM = 2;
/** The grid of the PDCADxFoundation release. */
export const CHALLENGE_SHAPE: [number, number, number] = [300, 300, 70];

/**
 * Population mean volumes (cm^3) of the 16 QSM-mask labels, from `docs/design.md` (challenge training set);
 * templates are rescaled to these.
 */
export const MEAN_NUCLEUS_VOLUMES_CM3: Record<NucleusName, number> = {
  CN_R: 3.36,
  CN_L: 2.84,
  PUT_R: 3.67,
  PUT_L: 3.52,
  GP_R: 1.85,
  GP_L: 2.1,
  THA_R: 4.6,
  THA_L: 4.61,
  STN_R: 0.08,
  STN_L: 0.09,
  SN_R: 0.47,
  SN_L: 0.46,
  RN_R: 0.17,
  RN_L: 0.17,
  DN_R: 0.66,
  DN_L: 0.65,
};

/**
 * A voxel grid at the challenge spacing: `shape` voxels starting at voxel `origin` of the full
 * 300x300x70 challenge grid. `affine` keeps world coordinates identical to the full grid's, so a
 * cropped cohort's nuclei sit at the same world positions as the real data's.
 */
export interface SynthGrid {
  /** Voxels along i, j, k. */
  shape: [number, number, number];
  /** First voxel of this grid in the full challenge grid. */
  origin: [number, number, number];
  /** Voxel-to-world affine (rows), the challenge's convention ('LAS', zero world origin at voxel 0). */
  affine: Affine;
}

/** Field of view: the challenge's full grid, a 160x160x40 crop around the nuclei, or a custom crop. */
export type SynthFov =
  | 'full'
  | 'small'
  | { shape: [number, number, number]; origin: [number, number, number] };

/**
 * The grid for a field of view. `'small'` (160x160x40 from voxel (71, 67, 4)) holds every nucleus of
 * the five real mask sets with >= 3 slices and >= 20 voxels to spare, at the challenge spacing, so small
 * nuclei keep their real voxel counts.
 */
export function synthGrid(fov: SynthFov = 'full'): SynthGrid {
  let shape: [number, number, number];
  let origin: [number, number, number];
  if (fov === 'full') {
    shape = [...CHALLENGE_SHAPE];
    origin = [0, 0, 0];
  } else if (fov === 'small') {
    shape = [160, 160, 40];
    origin = [71, 67, 4];
  } else if (
    fov &&
    Array.isArray(fov.shape) &&
    Array.isArray(fov.origin) &&
    fov.shape.length === 3 &&
    fov.origin.length === 3 &&
    fov.shape.every((d) => Number.isInteger(d) && d >= 8) &&
    fov.origin.every((d) => Number.isInteger(d) && d >= 0)
  ) {
    shape = [...fov.shape];
    origin = [...fov.origin];
  } else {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `synthGrid: fov must be 'full', 'small' or { shape: [3 ints >= 8], origin: [3 ints >= 0] }, got ${JSON.stringify(fov)}`,
    );
  }
  const a = CHALLENGE_INPLANE_MM;
  const s = CHALLENGE_SLICE_MM;
  // The real files store x = -a*i (pixdim[0] = -1, 'LAS'), y = a*j, z = s*k, no translation.
  const affine: Affine = [
    [-a, 0, 0, -a * origin[0]],
    [0, a, 0, a * origin[1]],
    [0, 0, s, s * origin[2]],
    [0, 0, 0, 1],
  ];
  return { shape, origin, affine };
}

/** A rigid-plus-scale placement of one nucleus in one subject, and its shape perturbation. */
export interface NucleusPlacement {
  /** Translation of the nucleus (head shift included), world mm. */
  shiftMm: [number, number, number];
  /** Rotation angles about x, y, z (degrees), applied about the nucleus's template centre. */
  rotationDeg: [number, number, number];
  /** Isotropic linear scale relative to the population-mean-volume template. */
  scale: number;
  /**
   * Cross-section harmonics: amplitudes of the 2nd and 3rd angular harmonic at the nucleus's two ends
   * `[a2Start, a2End, a3Start, a3End]` (fractions of the radius) and their phases (radians).
   */
  harmonics: [number, number, number, number];
  /** Phases of the 2nd and 3rd harmonic. */
  phases: [number, number];
}

/** One subject's anatomy: a placement per QSM nucleus and per NM-visible SN. */
export interface SubjectAnatomy {
  /** Head shift shared by all nuclei, world mm (already included in each placement's shift). */
  headShiftMm: [number, number, number];
  /** Placements of the 16 QSM-mask nuclei. */
  nuclei: Record<NucleusName, NucleusPlacement>;
  /** Shape perturbation of the NM-visible SN (R, L); it shares the placement of the QSM SN of its side. */
  nmHarmonics: { R: NucleusPlacement; L: NucleusPlacement };
}

/** Standard deviations of the per-subject anatomical variation (defaults documented in `docs/synthetic-cohort.md`). */
export interface AnatomyVariation {
  /** Head shift SD per axis, mm. Default 0.8. */
  headShiftSdMm: number;
  /** Per-nucleus shift SD per axis, mm. Default 0.5. */
  nucleusShiftSdMm: number;
  /** Rotation SD per axis, degrees. Default 2. */
  rotationSdDeg: number;
  /** SD of log linear scale (0.025 = ~7.5% volume SD). Default 0.025. */
  logScaleSd: number;
  /** Largest harmonic amplitude (fraction of radius). Default 0.08. */
  harmonicMax: number;
}

/** Default {@link AnatomyVariation}: five real subjects span ~3-5 mm in centroid and ~+-12% in volume. */
export const DEFAULT_ANATOMY_VARIATION: AnatomyVariation = {
  headShiftSdMm: 0.8,
  nucleusShiftSdMm: 0.5,
  rotationSdDeg: 2,
  logScaleSd: 0.025,
  harmonicMax: 0.08,
};

/** A normal deviate clipped at +-2 SD, so no subject is an anatomical outlier. */
function clippedNormal(rng: Rng, sd: number): number {
  const z = rng.normal();
  return sd * Math.max(-2, Math.min(2, z));
}

function samplePlacement(
  rng: Rng,
  v: AnatomyVariation,
  head: [number, number, number],
  logScale = 0,
): NucleusPlacement {
  return {
    shiftMm: [0, 1, 2].map((d) => head[d]! + clippedNormal(rng, v.nucleusShiftSdMm)) as [
      number,
      number,
      number,
    ],
    rotationDeg: [0, 1, 2].map(() => clippedNormal(rng, v.rotationSdDeg)) as [number, number, number],
    scale: Math.exp(logScale + clippedNormal(rng, v.logScaleSd)),
    harmonics: [0, 1, 2, 3].map(() => rng.uniform(0, v.harmonicMax)) as [number, number, number, number],
    phases: [rng.uniform(0, 2 * Math.PI), rng.uniform(0, 2 * Math.PI)],
  };
}

/** Draws one subject's anatomy. Uses only `rng` (fork it per subject). */
export function sampleAnatomy(
  rng: Rng,
  variation: AnatomyVariation = DEFAULT_ANATOMY_VARIATION,
): SubjectAnatomy {
  const head = [0, 1, 2].map(() => clippedNormal(rng, variation.headShiftSdMm)) as [number, number, number];
  // A subject-wide size factor (half the per-nucleus SD) correlates nucleus sizes, as in real brains.
  const subjectLogScale = clippedNormal(rng, variation.logScaleSd / 2);
  const nuclei = {} as Record<NucleusName, NucleusPlacement>;
  for (const name of QSM_NUCLEUS_NAMES) nuclei[name] = samplePlacement(rng, variation, head, subjectLogScale);
  const nmVariation = { ...variation, harmonicMax: variation.harmonicMax / 2 };
  return {
    headShiftMm: head,
    nuclei,
    nmHarmonics: {
      R: samplePlacement(rng, nmVariation, head),
      L: samplePlacement(rng, nmVariation, head),
    },
  };
}

/** World coordinate of voxel index `idx` along axis `d` of `grid` (the affine is diagonal). */
export function gridVoxelToWorld(grid: SynthGrid, d: 0 | 1 | 2, idx: number): number {
  return grid.affine[d]![d]! * idx + grid.affine[d]![3]!;
}

/** Voxel index range `[lo, hi]` (inclusive, clipped to the grid) covering world interval [a, b] on axis d. */
function worldRangeToVoxels(grid: SynthGrid, d: 0 | 1 | 2, a: number, b: number): [number, number] {
  const scale = grid.affine[d]![d]!;
  const off = grid.affine[d]![3]!;
  const i0 = (a - off) / scale;
  const i1 = (b - off) / scale;
  const lo = Math.max(0, Math.floor(Math.min(i0, i1)));
  const hi = Math.min(grid.shape[d] - 1, Math.ceil(Math.max(i0, i1)));
  return [lo, hi];
}

/**
 * Paints `label` into `labels` (NIfTI order) on every voxel whose centre has `level(...) <= limit(...)`
 * and that is still 0 (earlier shapes win, so masks never overlap). `limit` defaults to 1.
 * Returns the number of voxels painted.
 */
export function paintShape(
  grid: SynthGrid,
  labels: Uint8Array,
  shape: PlacedShape,
  label: number,
  limit?: (x: number, y: number, z: number) => number,
): number {
  const [nx, ny] = grid.shape;
  const [i0, i1] = worldRangeToVoxels(grid, 0, shape.bounds[0][0], shape.bounds[1][0]);
  const [j0, j1] = worldRangeToVoxels(grid, 1, shape.bounds[0][1], shape.bounds[1][1]);
  const [k0, k1] = worldRangeToVoxels(grid, 2, shape.bounds[0][2], shape.bounds[1][2]);
  let painted = 0;
  for (let k = k0; k <= k1; k++) {
    const z = gridVoxelToWorld(grid, 2, k);
    for (let j = j0; j <= j1; j++) {
      const y = gridVoxelToWorld(grid, 1, j);
      const row = (k * ny + j) * nx;
      for (let i = i0; i <= i1; i++) {
        const idx = row + i;
        if (labels[idx] !== 0) continue;
        const x = gridVoxelToWorld(grid, 0, i);
        const lv = shape.level(x, y, z);
        if (lv <= (limit ? limit(x, y, z) : 1)) {
          labels[idx] = label;
          painted++;
        }
      }
    }
  }
  return painted;
}

/**
 * The putamen loses ~5-8% of its voxels to the globus pallidus (painted first, see {@link PAINT_ORDER})
 * where the two touch; its template is enlarged by this factor so painted volumes keep the real mean
 * (measured over 20 synthetic subjects: 3.50 and 3.36 cm^3 without it, targets 3.67 and 3.52).
 */
const OVERLAP_COMPENSATION: Partial<Record<NucleusName, number>> = { PUT_R: 1.05, PUT_L: 1.045 };

/** The placed shapes of one subject: 16 QSM nuclei (label order) and the NM-visible SN (R, L). */
export interface PlacedAnatomy {
  /** QSM-mask nuclei, index = label - 1. */
  nuclei: PlacedShape[];
  /** NM-visible SN, right then left (NM labels 1, 2). */
  nmSn: [PlacedShape, PlacedShape];
}

/** Places every nucleus of `anatomy` (templates rescaled to the `docs/design.md` mean volumes). */
export function placeAnatomy(anatomy: SubjectAnatomy): PlacedAnatomy {
  const nuclei = QSM_NUCLEUS_NAMES.map((name) =>
    placeShape(
      NUCLEUS_TEMPLATES[name],
      anatomy.nuclei[name],
      MEAN_NUCLEUS_VOLUMES_CM3[name] * (OVERLAP_COMPENSATION[name] ?? 1),
    ),
  );
  const nm = (['R', 'L'] as const).map((side) => {
    const sn = NUCLEUS_TEMPLATES[`SN_${side}`];
    const tpl = NUCLEUS_TEMPLATES[`NM_SN_${side}`];
    // Same placement as the QSM SN of that side (about the QSM SN centre), own shape harmonics;
    // the mean volume of the five real NM masks (`docs/design.md` gives no population NM-SN volume).
    return placeShape(
      tpl,
      anatomy.nuclei[`SN_${side}`],
      tpl.meanVolumeCm3,
      sn.centre,
      anatomy.nmHarmonics[side],
    );
  }) as [PlacedShape, PlacedShape];
  return { nuclei, nmSn: nm };
}

/**
 * Paint order: smallest nuclei first, so where neighbours touch the small ones keep their shape
 * (a few voxels of a large nucleus matter less than of the 0.08 cm^3 STN).
 */
export const PAINT_ORDER: number[] = QSM_NUCLEUS_NAMES.map((_, i) => i).sort(
  (a, b) =>
    MEAN_NUCLEUS_VOLUMES_CM3[QSM_NUCLEUS_NAMES[a]!] - MEAN_NUCLEUS_VOLUMES_CM3[QSM_NUCLEUS_NAMES[b]!] ||
    a - b,
);

/** Clamps to [0, 1]. */
export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/**
 * Direction (unit, world) pointing lateral for `side`, blended with posterior and inferior components:
 * x is +right in RAS+, so lateral is +x on the right, -x on the left.
 */
export function lateralDirection(
  side: 'R' | 'L',
  posterior: number,
  inferior: number,
): [number, number, number] {
  const v = [side === 'R' ? 1 : -1, -posterior, -inferior];
  const n = Math.hypot(v[0]!, v[1]!, v[2]!);
  return [v[0]! / n, v[1]! / n, v[2]! / n];
}

/**
 * Weight in [0, 1] of a point along `dir` from `centre`: 0.5 at the centre, 1 at `halfLength` mm
 * along `dir`. Used for "posterolateral" (QSM) and "ventral-lateral tier" (NM) gradients.
 */
export function tierWeight(
  p: readonly number[],
  centre: readonly number[],
  dir: readonly number[],
  halfLength: number,
): number {
  const d = (p[0]! - centre[0]!) * dir[0]! + (p[1]! - centre[1]!) * dir[1]! + (p[2]! - centre[2]!) * dir[2]!;
  return clamp01(0.5 + (0.5 * d) / halfLength);
}
