/**
 * Synthetic image contrast: turns one subject's label maps and biology into a QSM image (ppb) and an
 * NM-MRI image (arbitrary units, white matter ~400), with a head/brain background, partial-volume
 * blurring, a smooth bias field and noise.
 *
 * Scales (sources in `docs/synthetic-cohort.md`):
 * - QSM: white matter -25 ppb, cortical grey matter +12, CSF 0 (the reference), nuclei from
 *   {@link SubjectBiology.qsmPpb}; veins +150..+250 ppb; outside the brain 0 (QSM is masked there).
 *   Noise ~8 ppb per voxel (typical 3 T QSM at ~0.7 mm), residual background field a few ppb.
 * - NM-MRI (MT-prepared T1w GRE/TSE): white matter (incl. crus cerebri) 400, grey matter 320, CSF 110,
 *   deep nuclei 350, SN pars reticulata 370, SNc = reference x (1 + contrast ratio); scalp 550;
 *   Rician noise with SNR ~28 in white matter; multiplicative bias within about +-8%.
 * - Blur: Gaussian PSF, sigma 0.45 mm in-plane, 0.8 mm through-plane (FWHM ~ voxel size), which is
 *   what makes nucleus borders partial-volume rather than binary.
 */

import type { Rng } from '../rng.js';
import { clamp01, gridVoxelToWorld, type PlacedAnatomy, type SynthGrid } from './anatomy.js';
import type { SubjectBiology } from './disease.js';
import { paintNuclei, sampleNucleusGradients } from './nucleus-contrast.js';

/** Image-formation settings; `noiseScale` multiplies both images' noise (the cohort passes `difficulty`). */
export interface ContrastOptions {
  /** Multiplies the noise SDs below. Default 1. */
  noiseScale?: number;
  /** QSM noise SD per voxel, ppb, before `noiseScale`. Default 8. */
  qsmNoiseSdPpb?: number;
  /** NM white-matter signal-to-noise ratio, before `noiseScale`. Default 28. */
  nmSnr?: number;
  /** PSF sigma in mm along x, y, z. Default [0.45, 0.45, 0.8]. */
  blurSigmaMm?: [number, number, number];
}

/** Tissue classes of the background model. */
const Tissue = { Outside: 0, WhiteMatter: 1, GreyMatter: 2, Csf: 3, Scalp: 4 } as const;

/** The head/brain background of one subject: tissue class per voxel. */
interface Background {
  tissue: Uint8Array;
}

/** The midline and brain centre of the challenge frame (world mm): nuclei are symmetric about x = -100. */
const BRAIN_CENTRE: [number, number, number] = [-100, 98, 70];
const BRAIN_SEMI_AXES: [number, number, number] = [68, 86, 76];

/** Paints ellipsoid `label` into `tissue` over its bounding box (world centre, semi-axes mm). */
function paintEllipsoid(
  grid: SynthGrid,
  tissue: Uint8Array,
  centre: readonly number[],
  semi: readonly number[],
  value: number,
  onlyOver?: number,
): void {
  const [nx, ny] = grid.shape;
  const range = (d: 0 | 1 | 2): [number, number] => {
    const a = grid.affine[d]![d]!;
    const off = grid.affine[d]![3]!;
    const i0 = (centre[d]! - semi[d]! - off) / a;
    const i1 = (centre[d]! + semi[d]! - off) / a;
    return [
      Math.max(0, Math.floor(Math.min(i0, i1))),
      Math.min(grid.shape[d] - 1, Math.ceil(Math.max(i0, i1))),
    ];
  };
  const [i0, i1] = range(0);
  const [j0, j1] = range(1);
  const [k0, k1] = range(2);
  for (let k = k0; k <= k1; k++) {
    const dz = (gridVoxelToWorld(grid, 2, k) - centre[2]!) / semi[2]!;
    for (let j = j0; j <= j1; j++) {
      const dy = (gridVoxelToWorld(grid, 1, j) - centre[1]!) / semi[1]!;
      const row = (k * ny + j) * nx;
      for (let i = i0; i <= i1; i++) {
        const dx = (gridVoxelToWorld(grid, 0, i) - centre[0]!) / semi[0]!;
        if (dx * dx + dy * dy + dz * dz <= 1 && (onlyOver === undefined || tissue[row + i] === onlyOver)) {
          tissue[row + i] = value;
        }
      }
    }
  }
}

/**
 * The background: brain ellipsoid with a folded cortical ribbon and sulcal CSF, a scalp shell,
 * lateral/third/fourth ventricles and the interpeduncular cistern (in front of the SN, where NM
 * contrast is read). Ventricles widen with age (atrophy, ~1%/year after 60).
 */
function makeBackground(grid: SynthGrid, headShift: readonly number[], age: number, rng: Rng): Background {
  const [nx, ny, nz] = grid.shape;
  const tissue = new Uint8Array(nx * ny * nz);
  const c = BRAIN_CENTRE.map((v, d) => v + headShift[d]!);
  const [ax, ay, az] = BRAIN_SEMI_AXES;
  // Folding: sums of separable waves, precomputed per axis (no trig per voxel).
  const ph = [0, 1, 2, 3, 4, 5].map(() => rng.uniform(0, 2 * Math.PI));
  const fx = Array.from({ length: nx }, (_, i) => gridVoxelToWorld(grid, 0, i));
  const fy = Array.from({ length: ny }, (_, j) => gridVoxelToWorld(grid, 1, j));
  const fz = Array.from({ length: nz }, (_, k) => gridVoxelToWorld(grid, 2, k));
  const wx = fx.map((x) => Math.sin(0.35 * x + ph[0]!));
  const wy = fy.map((y) => Math.sin(0.31 * y + ph[1]!));
  const wy2 = fy.map((y) => Math.cos(0.27 * y + ph[2]!));
  const wz = fz.map((z) => Math.sin(0.29 * z + ph[3]!));
  const wz2 = fz.map((z) => Math.cos(0.33 * z + ph[4]!));
  const wx2 = fx.map((x) => Math.cos(0.3 * x + ph[5]!));
  const rEff = 72;
  const gmThick = 3.2 / rEff;
  const csfThick = 1.8 / rEff;
  const scalpThick = 7 / rEff;
  for (let k = 0; k < nz; k++) {
    const dz = (fz[k]! - c[2]!) / az;
    for (let j = 0; j < ny; j++) {
      const dy = (fy[j]! - c[1]!) / ay;
      const row = (k * ny + j) * nx;
      for (let i = 0; i < nx; i++) {
        const dx = (fx[i]! - c[0]!) / ax;
        const rho = Math.sqrt(dx * dx + dy * dy + dz * dz);
        if (rho > 1 + csfThick + scalpThick) continue;
        let t: number;
        if (rho > 1 + csfThick) t = Tissue.Scalp;
        else if (rho > 1) t = Tissue.Csf;
        else {
          const fold = (wx[i]! * wy[j]! + wy2[j]! * wz[k]! + wx2[i]! * wz2[k]!) / 3;
          // Sulci: CSF clefts reaching ~6 mm into the cortex where the folding pattern peaks.
          if (rho > 1 - gmThick * 2 && fold > 0.55) t = Tissue.Csf;
          else if (rho > 1 - gmThick * (1.6 + 0.9 * fold)) t = Tissue.GreyMatter;
          else t = Tissue.WhiteMatter;
        }
        tissue[row + i] = t;
      }
    }
  }
  const atrophy = 1 + 0.012 * Math.max(0, age - 60);
  const mid = c[0]!;
  // Lateral ventricles (bodies + frontal horns), medial to the caudate heads.
  for (const side of [-1, 1]) {
    paintEllipsoid(
      grid,
      tissue,
      [mid + side * 5.5 * atrophy, c[1]! + 12, 72 + headShift[2]!],
      [3.2 * atrophy, 24, 8 * atrophy],
      Tissue.Csf,
      Tissue.WhiteMatter,
    );
  }
  // Third ventricle between the thalami, fourth ventricle in front of the cerebellum.
  paintEllipsoid(grid, tissue, [mid, c[1]!, 56 + headShift[2]!], [1.3 * atrophy, 11, 8], Tissue.Csf);
  paintEllipsoid(grid, tissue, [mid, 77 + headShift[1]!, 30 + headShift[2]!], [4.5, 3.5, 6], Tissue.Csf);
  // Interpeduncular cistern, anterior-medial to the two SN.
  paintEllipsoid(grid, tissue, [mid, 108 + headShift[1]!, 42 + headShift[2]!], [2.5, 4, 4], Tissue.Csf);
  return { tissue };
}

/** Separable Gaussian blur (sigma in voxels per axis, clamped borders). Returns a new array. */
export function gaussianBlur3d(
  data: Float32Array,
  shape: readonly [number, number, number],
  sigmaVox: readonly [number, number, number],
): Float32Array {
  const [nx, ny] = shape;
  let src = data;
  const strides = [1, nx, nx * ny];
  for (let axis = 0; axis < 3; axis++) {
    const sigma = sigmaVox[axis]!;
    if (!(sigma > 0.05)) continue;
    const radius = Math.max(1, Math.ceil(2.5 * sigma));
    const kernel = new Float32Array(2 * radius + 1);
    let sum = 0;
    for (let r = -radius; r <= radius; r++)
      sum += kernel[r + radius] = Math.exp(-(r * r) / (2 * sigma * sigma));
    for (let r = 0; r < kernel.length; r++) kernel[r]! /= sum;
    const n = shape[axis]!;
    const stride = strides[axis]!;
    const dst = new Float32Array(src.length);
    const line = new Float32Array(n);
    // Iterate over all lines along `axis`.
    const [o1, o2] = [0, 1, 2].filter((a) => a !== axis) as [number, number];
    for (let b = 0; b < shape[o2]!; b++) {
      for (let a = 0; a < shape[o1]!; a++) {
        const base = a * strides[o1]! + b * strides[o2]!;
        for (let p = 0; p < n; p++) line[p] = src[base + p * stride]!;
        for (let p = 0; p < n; p++) {
          let acc = 0;
          for (let r = -radius; r <= radius; r++) {
            const q = p + r < 0 ? 0 : p + r >= n ? n - 1 : p + r;
            acc += kernel[r + radius]! * line[q]!;
          }
          dst[base + p * stride] = acc;
        }
      }
    }
    src = dst;
  }
  return src === data ? new Float32Array(data) : src;
}

/** A smooth low-order field over the grid (quadratic polynomial in head-relative coordinates / 100 mm). */
function smoothField(grid: SynthGrid, coeffs: number[]): Float32Array {
  const [nx, ny, nz] = grid.shape;
  const out = new Float32Array(nx * ny * nz);
  const X = Array.from({ length: nx }, (_, i) => (gridVoxelToWorld(grid, 0, i) - BRAIN_CENTRE[0]) / 100);
  const Y = Array.from({ length: ny }, (_, j) => (gridVoxelToWorld(grid, 1, j) - BRAIN_CENTRE[1]) / 100);
  const Z = Array.from({ length: nz }, (_, k) => (gridVoxelToWorld(grid, 2, k) - BRAIN_CENTRE[2]) / 100);
  const [c0, c1, c2, c3, c4, c5, c6, c7, c8] = coeffs as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  for (let k = 0; k < nz; k++) {
    const z = Z[k]!;
    for (let j = 0; j < ny; j++) {
      const y = Y[j]!;
      const row = (k * ny + j) * nx;
      const base = c1 * y + c2 * z + c4 * y * y + c5 * z * z + c8 * y * z;
      for (let i = 0; i < nx; i++) {
        const x = X[i]!;
        out[row + i] = base + c0 * x + c3 * x * x + c6 * x * y + c7 * x * z;
      }
    }
  }
  return out;
}

/** Per-case imaging parameters actually used (recorded in truth.json). */
export interface ImagingTruth {
  /** QSM noise SD, ppb. */
  qsmNoiseSdPpb: number;
  /** NM noise SD (Rician sigma), a.u. */
  nmNoiseSd: number;
  /** QSM residual background-field polynomial coefficients, ppb. */
  qsmBackgroundCoeffs: number[];
  /** NM log-bias polynomial coefficients. */
  nmBiasCoeffs: number[];
  /** White-matter susceptibility, ppb. */
  whiteMatterPpb: number;
}

/** The two rendered images (NIfTI order) and their imaging parameters. */
export interface RenderedImages {
  /** QSM in ppb. */
  qsm: Float32Array;
  /** NM-MRI in arbitrary units. */
  nm: Float32Array;
  /** Imaging parameters used. */
  imaging: ImagingTruth;
}

/**
 * Renders QSM and NM images for one subject. `qsmMask`/`nmMask` are the painted label maps (QSM labels
 * 1-16, NM labels 1-2); `nmCentres` the NM-SN centres (R, L) the ventral-lateral tier is measured from.
 */
export function renderImages(
  grid: SynthGrid,
  placed: PlacedAnatomy,
  qsmMask: Uint8Array,
  nmMask: Uint8Array,
  bio: SubjectBiology,
  headShift: readonly number[],
  rng: Rng,
  options: ContrastOptions = {},
): RenderedImages {
  const noiseScale = options.noiseScale ?? 1;
  const qsmNoise = (options.qsmNoiseSdPpb ?? 8) * noiseScale;
  const nmSnr = (options.nmSnr ?? 28) / noiseScale;
  const blurMm = options.blurSigmaMm ?? [0.45, 0.45, 0.8];
  const bgRng = rng.fork();
  const detailRng = rng.fork();
  const noiseRng = rng.fork();

  const { tissue } = makeBackground(grid, headShift, bio.age, bgRng);
  const whiteMatterPpb = detailRng.normal(-25, 3);
  const { qsm, nm } = tissueImages(tissue, [0, whiteMatterPpb, detailRng.normal(12, 3), 0, 0]);
  for (const vein of sampleVeins(headShift, detailRng)) paintVein(grid, qsm, tissue, qsmMask, vein);
  paintNuclei(grid, placed, qsmMask, nmMask, bio, sampleNucleusGradients(detailRng), qsm, nm);

  const sigmaVox = [0, 1, 2].map((d) => blurMm[d]! / Math.abs(grid.affine[d]![d]!)) as [
    number,
    number,
    number,
  ];
  const qsmBlur = gaussianBlur3d(qsm, grid.shape, sigmaVox);
  const nmBlur = gaussianBlur3d(nm, grid.shape, sigmaVox);

  const qsmBackgroundCoeffs = Array.from({ length: 9 }, () => detailRng.normal(0, 4));
  const nmBiasCoeffs = Array.from({ length: 9 }, () => detailRng.normal(0, 0.04));
  const nmSigma = 400 / nmSnr;
  addFieldsAndNoise(grid, tissue, qsmBlur, nmBlur, {
    qsmField: smoothField(grid, qsmBackgroundCoeffs),
    nmField: smoothField(grid, nmBiasCoeffs),
    qsmNoise,
    nmSigma,
    rng: noiseRng,
  });
  return {
    qsm: qsmBlur,
    nm: nmBlur,
    imaging: {
      qsmNoiseSdPpb: qsmNoise,
      nmNoiseSd: nmSigma,
      qsmBackgroundCoeffs,
      nmBiasCoeffs,
      whiteMatterPpb,
    },
  };
}

/** QSM (ppb) and NM (a.u.) images of the tissue classes alone, before nuclei, veins and blur. */
function tissueImages(
  tissue: Uint8Array,
  qsmTissue: readonly number[],
): { qsm: Float32Array; nm: Float32Array } {
  const nmTissue = [0, 400, 320, 110, 550];
  const n = tissue.length;
  const qsm = new Float32Array(n);
  const nm = new Float32Array(n);
  for (let v = 0; v < n; v++) {
    const t = tissue[v]!;
    qsm[v] = qsmTissue[t]!;
    nm[v] = nmTissue[t]!;
  }
  return { qsm, nm };
}

/** A vein: a capsule from `a` to `b` (world mm), radius `r` mm, susceptibility `chi` ppb. */
interface Vein {
  a: number[];
  b: number[];
  r: number;
  chi: number;
}

/** Veins (QSM only): two internal cerebral veins above the thalami, a few medullary veins. */
function sampleVeins(headShift: readonly number[], rng: Rng): Vein[] {
  const veins: Vein[] = [];
  for (const side of [-1, 1]) {
    veins.push({
      a: [-100 + side * 2 + headShift[0]!, 82 + headShift[1]!, 68 + headShift[2]!],
      b: [-100 + side * 1.5 + headShift[0]!, 112 + headShift[1]!, 66 + headShift[2]!],
      r: 0.9,
      chi: rng.uniform(200, 260),
    });
  }
  for (let m = 0; m < 5; m++) {
    const a = [rng.uniform(-140, -60), rng.uniform(50, 150), rng.uniform(70, 110)];
    const dir = [rng.normal(), rng.normal(), rng.normal() * 0.3];
    const len = rng.uniform(12, 28) / Math.hypot(dir[0]!, dir[1]!, dir[2]!);
    veins.push({
      a,
      b: a.map((v, d) => v + dir[d]! * len),
      r: rng.uniform(0.4, 0.7),
      chi: rng.uniform(120, 200),
    });
  }
  return veins;
}

/**
 * Adds the smooth fields and noise to the blurred images in place: QSM gets its residual background
 * field and Gaussian noise inside the brain (0 outside); NM its multiplicative bias and Rician noise.
 */
function addFieldsAndNoise(
  grid: SynthGrid,
  tissue: Uint8Array,
  qsm: Float32Array,
  nm: Float32Array,
  f: { qsmField: Float32Array; nmField: Float32Array; qsmNoise: number; nmSigma: number; rng: Rng },
): void {
  const [nx, ny, nz] = grid.shape;
  const n = nx * ny * nz;
  for (let v = 0; v < n; v++) {
    const t = tissue[v]!;
    // QSM is only defined inside the brain mask (tissue + CSF, not scalp).
    if (t === Tissue.Outside || t === Tissue.Scalp) qsm[v] = 0;
    else qsm[v] = qsm[v]! + f.qsmField[v]! + f.rng.normal(0, f.qsmNoise);
    const s = nm[v]! * Math.exp(f.nmField[v]!);
    const re = s + f.rng.normal(0, f.nmSigma);
    const im = f.rng.normal(0, f.nmSigma);
    nm[v] = Math.sqrt(re * re + im * im);
  }
}

/** Paints a vein (a capsule from a to b, radius r) into the QSM image over white/grey matter only. */
function paintVein(
  grid: SynthGrid,
  qsm: Float32Array,
  tissue: Uint8Array,
  labels: Uint8Array,
  vein: Vein,
): void {
  const [nx, ny] = grid.shape;
  const lo = [0, 1, 2].map((d) => Math.min(vein.a[d]!, vein.b[d]!) - vein.r - 1);
  const hi = [0, 1, 2].map((d) => Math.max(vein.a[d]!, vein.b[d]!) + vein.r + 1);
  const idx = (d: 0 | 1 | 2) => {
    const a = grid.affine[d]![d]!;
    const off = grid.affine[d]![3]!;
    const i0 = (lo[d]! - off) / a;
    const i1 = (hi[d]! - off) / a;
    return [
      Math.max(0, Math.floor(Math.min(i0, i1))),
      Math.min(grid.shape[d] - 1, Math.ceil(Math.max(i0, i1))),
    ] as const;
  };
  const [i0, i1] = idx(0);
  const [j0, j1] = idx(1);
  const [k0, k1] = idx(2);
  const ab = [0, 1, 2].map((d) => vein.b[d]! - vein.a[d]!);
  const len2 = ab[0]! ** 2 + ab[1]! ** 2 + ab[2]! ** 2;
  for (let k = k0; k <= k1; k++) {
    const z = gridVoxelToWorld(grid, 2, k);
    for (let j = j0; j <= j1; j++) {
      const y = gridVoxelToWorld(grid, 1, j);
      for (let i = i0; i <= i1; i++) {
        const v = (k * ny + j) * nx + i;
        const t = tissue[v]!;
        if (labels[v] !== 0 || (t !== Tissue.WhiteMatter && t !== Tissue.GreyMatter)) continue;
        const x = gridVoxelToWorld(grid, 0, i);
        const ap = [x - vein.a[0]!, y - vein.a[1]!, z - vein.a[2]!];
        const s = clamp01((ap[0]! * ab[0]! + ap[1]! * ab[1]! + ap[2]! * ab[2]!) / len2);
        const d2 = (ap[0]! - s * ab[0]!) ** 2 + (ap[1]! - s * ab[1]!) ** 2 + (ap[2]! - s * ab[2]!) ** 2;
        if (d2 <= vein.r * vein.r) qsm[v] = vein.chi;
      }
    }
  }
}
