/**
 * A synthetic PD/HC cohort written exactly like the PDCADxFoundation release: `RJPD_###/` folders with
 * `QSM.nii.gz`, `NM.nii.gz`, `QSM_mask.nii.gz`, `NM_mask.nii.gz` on the challenge grid and affine, a
 * `train_cases.csv` (`case,label`) and a `truth.json` with every case's generating parameters.
 *
 * Each case draws only from its own generator (the (i+1)-th fork of the seed's case stream), and labels
 * are dealt in shuffled blocks of 10, so case `RJPD_007` is the same whether the cohort has 10 or 200
 * cases, and the same seed gives byte-identical files.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MrnError } from '../errors.js';
import { createRng, type Rng } from '../rng.js';
import { MRN_VERSION } from '../version.js';
import { encodeNifti } from '../io/nifti-writer.js';
import { NM_NUCLEUS_NAMES, QSM_NUCLEUS_NAMES, type NucleusName } from '../preprocess/nucleus-labels.js';
import { createVolume, type Volume } from '../preprocess/volume.js';
import {
  PAINT_ORDER,
  paintShape,
  placeAnatomy,
  sampleAnatomy,
  synthGrid,
  type SubjectAnatomy,
  type SynthFov,
  type SynthGrid,
} from './anatomy.js';
import { renderImages, type ContrastOptions, type ImagingTruth } from './contrast.js';
import {
  DEFAULT_DIFFICULTY,
  DEFAULT_DISEASE_EFFECTS,
  nmShrinkLimit,
  sampleBiology,
  type DiseaseEffects,
  type SubjectBiology,
} from './disease.js';

/** What a synthetic cohort looks like (everything except where it is written). */
export interface SyntheticCohortOptions {
  /** Number of cases (>= 1). */
  cases: number;
  /** Seed (a safe integer); same seed, same files. */
  seed: number;
  /** Fraction of PD cases, dealt in shuffled blocks of 10 (default 0.5: balanced like the challenge). */
  pdFraction?: number;
  /** Field of view: `'full'` (300x300x70, default) or `'small'` (160x160x40 crop, same spacing). */
  fov?: SynthFov;
  /** Divides the disease effects and multiplies image noise (default {@link DEFAULT_DIFFICULTY}). */
  difficulty?: number;
  /** Overrides of the disease effect sizes (defaults {@link DEFAULT_DISEASE_EFFECTS}). */
  effects?: Partial<DiseaseEffects>;
  /**
   * Stored image datatype: `'int16'` (default; QSM in whole ppb, NM in whole units; ~5x smaller
   * files than float32 for the same information at these noise levels) or `'float32'`. Masks are uint8.
   */
  datatype?: 'int16' | 'float32';
  /** Image-formation overrides (noise, PSF); `noiseScale` is always the difficulty. */
  contrast?: Omit<ContrastOptions, 'noiseScale'>;
}

/** Options of {@link makeSyntheticCohort}. */
export interface MakeSyntheticCohortOptions extends SyntheticCohortOptions {
  /** Output folder (created if missing). */
  outDir: string;
  /** Called after each case is written. */
  onCase?: (caseId: string, done: number, total: number) => void;
}

/** The generating parameters of one case, as stored in truth.json. */
export interface SyntheticCaseTruth extends SubjectBiology {
  /** Case id, e.g. `RJPD_001`. */
  case: string;
  /** `'PD'` or `'HC'` (same as `label`). */
  group: 'PD' | 'HC';
  /** Volumes of the painted masks, cm^3: QSM nuclei by name, NM SN by side. */
  volumesCm3: { qsm: Record<NucleusName, number>; nm: { R: number; L: number } };
  /** Anatomical placement of every nucleus. */
  anatomy: SubjectAnatomy;
  /** Imaging parameters (noise, bias, background). */
  imaging: ImagingTruth;
}

/** One generated case, in memory. */
export interface SyntheticCase {
  /** Case id, e.g. `RJPD_001`. */
  id: string;
  /** 1 = PD, 0 = HC. */
  label: 0 | 1;
  /** QSM image (ppb). Integer-valued when the datatype is int16. */
  qsm: Volume<Float32Array>;
  /** NM-MRI image (a.u.). Integer-valued when the datatype is int16. */
  nm: Volume<Float32Array>;
  /** QSM nucleus mask, labels 1-16. */
  qsmMask: Volume<Uint8Array>;
  /** NM SN mask, labels 1 (right) and 2 (left). */
  nmMask: Volume<Uint8Array>;
  /** Generating parameters. */
  truth: SyntheticCaseTruth;
}

/** What {@link makeSyntheticCohort} wrote. */
export interface SyntheticCohortSummary {
  /** The output folder. */
  outDir: string;
  /** Case ids and labels, in order. */
  cases: { id: string; label: 0 | 1 }[];
  /** Path of `train_cases.csv`. */
  labelsCsv: string;
  /** Path of `truth.json`. */
  truthJson: string;
  /** Wall time, seconds. */
  seconds: number;
}

/** `RJPD_001` for index 0 (three digits, more when needed). */
export function syntheticCaseId(index: number): string {
  return `RJPD_${String(index + 1).padStart(3, '0')}`;
}

/** The n-th fork (1-based) of `createRng(seed)`'s fork stream number `stream`. */
function nthFork(seed: number, stream: number, n: number): Rng {
  const root = createRng(seed);
  let s = root.fork();
  for (let i = 1; i < stream; i++) s = root.fork();
  let f = s.fork();
  for (let i = 1; i < n; i++) f = s.fork();
  return f;
}

/** Label of case `index`: blocks of 10 cases hold round(10 * pdFraction) PD cases, shuffled per block. */
export function syntheticCaseLabel(index: number, seed: number, pdFraction = 0.5): 0 | 1 {
  const block = Math.floor(index / 10);
  const rng = nthFork(seed, 2, block + 1);
  const nPd = Math.round(10 * pdFraction);
  const labels = Array.from({ length: 10 }, (_, i) => (i < nPd ? 1 : 0) as 0 | 1);
  rng.shuffle(labels);
  return labels[index % 10]!;
}

function checkOptions(o: SyntheticCohortOptions): void {
  if (!Number.isInteger(o.cases) || o.cases < 1) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `synthetic cohort: cases must be an integer >= 1, got ${o.cases}`,
    );
  }
  if (!Number.isSafeInteger(o.seed)) {
    throw new MrnError('E_INVALID_ARGUMENT', `synthetic cohort: seed must be a safe integer, got ${o.seed}`);
  }
  const f = o.pdFraction ?? 0.5;
  if (!(typeof f === 'number' && f >= 0 && f <= 1)) {
    throw new MrnError('E_INVALID_ARGUMENT', `synthetic cohort: pdFraction must be in [0, 1], got ${f}`);
  }
  const d = o.difficulty ?? DEFAULT_DIFFICULTY;
  if (!(typeof d === 'number' && Number.isFinite(d) && d > 0)) {
    throw new MrnError('E_INVALID_ARGUMENT', `synthetic cohort: difficulty must be a number > 0, got ${d}`);
  }
  const dt = o.datatype ?? 'int16';
  if (dt !== 'int16' && dt !== 'float32') {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `synthetic cohort: datatype must be 'int16' or 'float32', got ${String(dt)}`,
    );
  }
}

function countLabels(labels: Uint8Array, max: number): number[] {
  const counts = new Array<number>(max + 1).fill(0);
  for (let v = 0; v < labels.length; v++) counts[labels[v]!]!++;
  return counts;
}

function roundToInt16(values: Float32Array): void {
  for (let v = 0; v < values.length; v++) {
    const r = Math.round(values[v]!);
    values[v] = r < -32768 ? -32768 : r > 32767 ? 32767 : r;
  }
}

/** One case's label maps and the parameters that made them, without images (fast). */
export interface SyntheticMasks {
  /** Case id. */
  id: string;
  /** 1 = PD, 0 = HC. */
  label: 0 | 1;
  /** The grid. */
  grid: SynthGrid;
  /** QSM labels 1-16, NIfTI order. */
  qsmMask: Uint8Array;
  /** NM labels 1-2, NIfTI order. */
  nmMask: Uint8Array;
  /** Anatomy drawn for the case. */
  anatomy: SubjectAnatomy;
  /** Biology drawn for the case. */
  biology: SubjectBiology;
  /** The placed nucleus shapes. */
  placed: ReturnType<typeof placeAnatomy>;
  /** The generator of the case's images (the next stream after anatomy and biology). */
  imageRng: Rng;
}

/**
 * The masks of case `index` (0-based) and the parameters behind them, without rendering images: what
 * {@link generateSyntheticCase} starts from, and enough for anatomy checks.
 */
export function generateSyntheticMasks(index: number, options: SyntheticCohortOptions): SyntheticMasks {
  checkOptions(options);
  if (!Number.isInteger(index) || index < 0) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `generateSyntheticCase: index must be an integer >= 0, got ${index}`,
    );
  }
  const grid: SynthGrid = synthGrid(options.fov ?? 'full');
  const difficulty = options.difficulty ?? DEFAULT_DIFFICULTY;
  const effects = { ...DEFAULT_DISEASE_EFFECTS, ...options.effects };
  const id = syntheticCaseId(index);
  const label = syntheticCaseLabel(index, options.seed, options.pdFraction ?? 0.5);
  const rng = nthFork(options.seed, 1, index + 1);
  const anatomyRng = rng.fork();
  const biologyRng = rng.fork();
  const imageRng = rng.fork();

  const anatomy = sampleAnatomy(anatomyRng);
  const biology = sampleBiology(biologyRng, label, { difficulty, effects });
  const placed = placeAnatomy(anatomy);
  const n = grid.shape[0] * grid.shape[1] * grid.shape[2];
  const qsmMask = new Uint8Array(n);
  for (const i of PAINT_ORDER) paintShape(grid, qsmMask, placed.nuclei[i]!, i + 1);
  const nmMask = new Uint8Array(n);
  (['R', 'L'] as const).forEach((side, s) => {
    const shape = placed.nmSn[s]!;
    const loss = biology.nmVolumeLoss[side];
    // PD thins the NM-visible SN from its ventral-lateral tier: the allowed radius fraction falls
    // from 1 (dorsomedial) to 1 - 2*rho (ventral-lateral), rho set so the volume loss is ~`loss`.
    const rho = 1 - Math.sqrt(1 - loss);
    // The cross-section scales with sqrt(volume factor): the shape's length stays, its girth varies.
    const limit = nmShrinkLimit(shape.centre, side, rho, Math.sqrt(biology.nmVolumeFactor[side]));
    paintShape(grid, nmMask, shape, s + 1, limit);
  });
  return { id, label, grid, qsmMask, nmMask, anatomy, biology, placed, imageRng };
}

/**
 * Generates case `index` (0-based) of the cohort `options` describes, in memory. Depends only on
 * `index`, `seed` and the options, never on `cases`.
 */
export function generateSyntheticCase(index: number, options: SyntheticCohortOptions): SyntheticCase {
  const {
    id,
    label,
    grid,
    qsmMask,
    nmMask,
    anatomy,
    biology: bio,
    placed,
    imageRng,
  } = generateSyntheticMasks(index, options);
  const difficulty = options.difficulty ?? DEFAULT_DIFFICULTY;
  const images = renderImages(grid, placed, qsmMask, nmMask, bio, anatomy.headShiftMm, imageRng, {
    ...options.contrast,
    noiseScale: difficulty,
  });
  if ((options.datatype ?? 'int16') === 'int16') {
    roundToInt16(images.qsm);
    roundToInt16(images.nm);
  }

  const voxelCm3 = Math.abs(grid.affine[0]![0]! * grid.affine[1]![1]! * grid.affine[2]![2]!) / 1000;
  const qCounts = countLabels(qsmMask, 16);
  const nCounts = countLabels(nmMask, 2);
  const qsmVolumes = {} as Record<NucleusName, number>;
  QSM_NUCLEUS_NAMES.forEach((name, i) => (qsmVolumes[name] = qCounts[i + 1]! * voxelCm3));
  const truth: SyntheticCaseTruth = {
    case: id,
    group: label === 1 ? 'PD' : 'HC',
    ...bio,
    volumesCm3: { qsm: qsmVolumes, nm: { R: nCounts[1]! * voxelCm3, L: nCounts[2]! * voxelCm3 } },
    anatomy,
    imaging: images.imaging,
  };
  const vol = <T extends Float32Array | Uint8Array>(data: T, file: string) =>
    createVolume(data, grid.shape, grid.affine, `${id}/${file}`);
  return {
    id,
    label,
    qsm: vol(images.qsm, 'QSM.nii.gz'),
    nm: vol(images.nm, 'NM.nii.gz'),
    qsmMask: vol(qsmMask, 'QSM_mask.nii.gz'),
    nmMask: vol(nmMask, 'NM_mask.nii.gz'),
    truth,
  };
}

/** Rounds numbers to 6 significant digits so truth.json stays readable (and deterministic). */
function roundForJson(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isInteger(value)) return Number(value.toPrecision(6));
  return value;
}

/** The four NIfTI files of a case as bytes (gzipped, deterministic), by file name. */
export function encodeSyntheticCase(
  c: SyntheticCase,
  datatype: 'int16' | 'float32' = 'int16',
): Record<string, Uint8Array> {
  return {
    'QSM.nii.gz': encodeNifti(c.qsm, { datatype, gzip: true }),
    'NM.nii.gz': encodeNifti(c.nm, { datatype, gzip: true }),
    'QSM_mask.nii.gz': encodeNifti(c.qsmMask, { datatype: 'uint8', gzip: true }),
    'NM_mask.nii.gz': encodeNifti(c.nmMask, { datatype: 'uint8', gzip: true }),
  };
}

/**
 * Writes a synthetic cohort to `outDir` in the PDCADxFoundation layout (see the file comment) and
 * resolves to a summary. Existing files of the same names are overwritten.
 *
 * @example
 * ```ts
 * await makeSyntheticCohort({ outDir: 'synth', cases: 20, seed: 1, fov: 'small' });
 * // synth/RJPD_001/{QSM,NM,QSM_mask,NM_mask}.nii.gz ... synth/train_cases.csv, synth/truth.json
 * ```
 */
export async function makeSyntheticCohort(
  options: MakeSyntheticCohortOptions,
): Promise<SyntheticCohortSummary> {
  checkOptions(options);
  if (typeof options.outDir !== 'string' || options.outDir === '') {
    throw new MrnError('E_INVALID_ARGUMENT', 'makeSyntheticCohort: outDir must be a non-empty path');
  }
  const start = Date.now();
  const datatype = options.datatype ?? 'int16';
  const mk = async (dir: string) => {
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      if (e instanceof MrnError) throw e; // E_NODE_ONLY from the browser build's fs stand-in
      throw new MrnError('E_IO', `cannot create folder: ${(e as Error).message}`, { file: dir, cause: e });
    }
  };
  const put = async (path: string, bytes: Uint8Array | string) => {
    try {
      await writeFile(path, bytes);
    } catch (e) {
      throw new MrnError('E_IO', `cannot write file: ${(e as Error).message}`, { file: path, cause: e });
    }
  };
  await mk(options.outDir);
  const truths: SyntheticCaseTruth[] = [];
  const cases: { id: string; label: 0 | 1 }[] = [];
  for (let index = 0; index < options.cases; index++) {
    const c = generateSyntheticCase(index, options);
    const dir = join(options.outDir, c.id);
    await mk(dir);
    const files = encodeSyntheticCase(c, datatype);
    for (const [name, bytes] of Object.entries(files)) await put(join(dir, name), bytes);
    truths.push(c.truth);
    cases.push({ id: c.id, label: c.label });
    options.onCase?.(c.id, index + 1, options.cases);
  }
  const grid = synthGrid(options.fov ?? 'full');
  const labelsCsv = join(options.outDir, 'train_cases.csv');
  await put(labelsCsv, ['case,label', ...cases.map((c) => `${c.id},${c.label}`)].join('\n') + '\n');
  const truth = {
    format: 'mrn-synthetic-cohort-truth/1',
    generator: `mrn ${MRN_VERSION}`,
    guide: 'See the README section "Synthetic cohort" (truth.json readers\' guide).',
    options: {
      cases: options.cases,
      seed: options.seed,
      pdFraction: options.pdFraction ?? 0.5,
      fov: options.fov ?? 'full',
      difficulty: options.difficulty ?? DEFAULT_DIFFICULTY,
      datatype,
      effects: { ...DEFAULT_DISEASE_EFFECTS, ...options.effects },
    },
    grid: { shape: grid.shape, origin: grid.origin, affine: grid.affine },
    labels: {
      qsm: Object.fromEntries(QSM_NUCLEUS_NAMES.map((n, i) => [String(i + 1), n])),
      nm: Object.fromEntries(NM_NUCLEUS_NAMES.map((n, i) => [String(i + 1), n])),
    },
    cases: truths,
  };
  const truthJson = join(options.outDir, 'truth.json');
  await put(truthJson, JSON.stringify(truth, roundForJson, 1) + '\n');
  return { outDir: options.outDir, cases, labelsCsv, truthJson, seconds: (Date.now() - start) / 1000 };
}
