/**
 * Contrast inside the nuclei of a synthetic subject, painted over the tissue background by
 * `renderImages`: each QSM nucleus gets its mean susceptibility with a gentle random internal
 * gradient; the SN adds nigrosome-1 (a dip) and PD's posterolateral extra iron; the NM-visible SN
 * gets its contrast ratio with the ventral-lateral tier loss. Scales and sources in
 * `docs/synthetic-cohort.md`.
 */

import type { Rng } from '../rng.js';
import { QSM_NUCLEUS_NAMES } from '../preprocess/nucleus-labels.js';
import {
  lateralDirection,
  tierWeight,
  gridVoxelToWorld,
  type PlacedAnatomy,
  type PlacedShape,
  type SynthGrid,
} from './anatomy.js';
import { NM_VENTROLATERAL, SN_POSTEROLATERAL, type SubjectBiology } from './disease.js';

/** A nucleus's internal susceptibility gradient: unit direction (world) and relative amplitude. */
export interface NucleusGradient {
  /** Unit direction of the rise. */
  dir: number[];
  /** Relative change at 8 mm from the centre (0-0.08). */
  amp: number;
}

/** Draws one internal gradient per QSM nucleus (4 numbers each, in label order). */
export function sampleNucleusGradients(rng: Rng): NucleusGradient[] {
  return QSM_NUCLEUS_NAMES.map(() => {
    const d = [rng.normal(), rng.normal(), rng.normal()];
    const norm = Math.hypot(d[0]!, d[1]!, d[2]!) || 1;
    return { dir: d.map((x) => x / norm), amp: rng.uniform(0, 0.08) };
  });
}

/** One SN side's iron profile: posterolateral rise along `dir`, nigrosome-1 dip of `depth` ppb. */
interface SnIronProfile {
  centre: readonly number[];
  dir: readonly number[];
  nigrosome: number[];
  depth: number;
  extra: number;
}

/** One NM-SN side's contrast: `base` ratio before loss, lost more toward the ventral-lateral tier. */
interface NmSnTier {
  centre: readonly number[];
  dir: readonly number[];
  base: number;
  loss: number;
}

/** The iron profiles of the right and left SN (QSM labels 11 and 12). */
function snIronProfiles(placed: PlacedAnatomy, bio: SubjectBiology): SnIronProfile[] {
  return (['R', 'L'] as const).map((side) => {
    const centre = placed.nuclei[side === 'R' ? 10 : 11]!.centre;
    const dir = lateralDirection(side, SN_POSTEROLATERAL.posterior, SN_POSTEROLATERAL.inferior);
    return {
      centre,
      dir,
      nigrosome: centre.map((c, d) => c + 3.5 * dir[d]!),
      depth: bio.nigrosomeDepthPpb[side],
      extra: bio.snPosterolateralExtraPpb[side],
    };
  });
}

/** The NM contrast tiers of the right and left NM-SN (NM labels 1 and 2). */
function nmSnTiers(placed: PlacedAnatomy, bio: SubjectBiology): NmSnTier[] {
  return (['R', 'L'] as const).map((side, s) => {
    const loss = bio.nmContrastLoss[side];
    return {
      centre: placed.nmSn[s]!.centre,
      dir: lateralDirection(side, NM_VENTROLATERAL.posterior, NM_VENTROLATERAL.inferior),
      // nmContrast is the mean after loss; the tier profile (0.4 + 1.2 w) averages ~1.
      base: bio.nmContrast[side] / Math.max(0.05, 1 - loss),
      loss,
    };
  });
}

/** Susceptibility (ppb) at world point `p` inside QSM nucleus `label`. */
function nucleusQsmPpb(
  p: readonly number[],
  label: number,
  shape: PlacedShape,
  g: NucleusGradient,
  bio: SubjectBiology,
  snIron: readonly SnIronProfile[],
): number {
  const name = QSM_NUCLEUS_NAMES[label - 1]!;
  const d =
    ((p[0]! - shape.centre[0]) * g.dir[0]! +
      (p[1]! - shape.centre[1]) * g.dir[1]! +
      (p[2]! - shape.centre[2]) * g.dir[2]!) /
    8;
  let chi = bio.qsmPpb[name] * (1 + g.amp * Math.max(-1, Math.min(1, d)));
  if (label === 11 || label === 12) {
    const sn = snIron[label - 11]!;
    const w = tierWeight(p, sn.centre, sn.dir, 4);
    // The extra rise is centred on the SN mean (w averages ~0.5): posterolateral up, anteromedial less.
    chi += sn.extra * (2 * w - 0.5);
    const dn2 =
      (p[0]! - sn.nigrosome[0]!) ** 2 + (p[1]! - sn.nigrosome[1]!) ** 2 + (p[2]! - sn.nigrosome[2]!) ** 2;
    chi -= sn.depth * Math.exp(-dn2 / (2 * 1.5 * 1.5));
  }
  return chi;
}

/** NM signal at world point `p` inside an NM-SN side. */
function nmSnSignal(p: readonly number[], tier: NmSnTier): number {
  const w = tierWeight(p, tier.centre, tier.dir, 4);
  const cr = tier.base * Math.max(0, 1 - tier.loss * (0.4 + 1.2 * w));
  return 400 * (1 + cr);
}

/**
 * Paints the nuclei into `qsm` and `nm` (NIfTI order, over the tissue background) wherever
 * `qsmMask` (labels 1-16) or `nmMask` (1-2) is set; the NM-SN overrides the QSM nuclei's NM value.
 */
export function paintNuclei(
  grid: SynthGrid,
  placed: PlacedAnatomy,
  qsmMask: Uint8Array,
  nmMask: Uint8Array,
  bio: SubjectBiology,
  gradients: readonly NucleusGradient[],
  qsm: Float32Array,
  nm: Float32Array,
): void {
  const [nx, ny, nz] = grid.shape;
  const snIron = snIronProfiles(placed, bio);
  const nmTiers = nmSnTiers(placed, bio);
  const p = [0, 0, 0];
  for (let k = 0; k < nz; k++) {
    p[2] = gridVoxelToWorld(grid, 2, k);
    for (let j = 0; j < ny; j++) {
      p[1] = gridVoxelToWorld(grid, 1, j);
      const row = (k * ny + j) * nx;
      for (let i = 0; i < nx; i++) {
        const v = row + i;
        const label = qsmMask[v]!;
        const nmLabel = nmMask[v]!;
        if (label === 0 && nmLabel === 0) continue;
        p[0] = gridVoxelToWorld(grid, 0, i);
        if (label !== 0) {
          qsm[v] = nucleusQsmPpb(p, label, placed.nuclei[label - 1]!, gradients[label - 1]!, bio, snIron);
          nm[v] = label === 11 || label === 12 ? 370 : 350;
        }
        if (nmLabel !== 0) nm[v] = nmSnSignal(p, nmTiers[nmLabel - 1]!);
      }
    }
  }
}
