/**
 * Synthetic biology: each subject's age, iron (QSM) per nucleus, neuromelanin (NM) contrast, and, for
 * PD patients, the disease effects. Every effect size is a parameter with a literature-based default;
 * `difficulty` divides the disease effects (and, in contrast.ts, multiplies image noise).
 *
 * Literature the defaults come from (ranges as reported, healthy adults ~50-75 y, 3 T):
 * - Susceptibility per nucleus, ppb relative to CSF: GP 150-200, SN 120-180, RN 100-150, DN 100-150,
 *   STN 100-140, PUT 50-100, CN 50-80, THA -5..+20; white matter -20..-30; between-subject SD
 *   15-30 ppb (Langkammer et al. 2012 NeuroImage 62:1593; Li et al. 2014 NeuroImage 94:275;
 *   Acosta-Cabronero et al. 2016 J Neurosci 36:364; Burgetova et al. 2021 Quant Imaging Med Surg).
 * - Age: iron rises through adulthood, fastest in PUT (~1-1.5 ppb/y), ~0.3-0.8 ppb/y in CN, GP, SN, RN,
 *   DN; flat in THA (Li et al. 2014; Acosta-Cabronero et al. 2016).
 * - PD, QSM: SN susceptibility up by ~10-40 ppb (meta-analytic SMD ~0.8-1.0; Pyatigorskaya et al. 2020
 *   Neurology 94:e2; Ravanfar et al. 2021 Front Neurosci 15:618435), strongest in the posterolateral
 *   (nigrosome-1) part (Langkammer et al. 2016 PLoS One 11:e0162460); RN and GP modestly up (SMD
 *   ~0.3-0.5 and ~0.2-0.3); PUT, CN, THA, DN about unchanged.
 * - Nigrosome-1: a low-iron island in dorsolateral/posterior SN in ~95% of controls, lost in ~80-95% of
 *   PD ("swallow tail" sign; Schwarz et al. 2014 PLoS One 9:e93814; Mahlknecht et al. 2017).
 * - PD, NM-MRI: SN NM volume down ~20-40% and contrast ratio down ~15-30% (SMD ~1.0-1.9; Sasaki et al.
 *   2006 Neuroreport 17:1215; Ohtsuka et al. 2013 Neurosci Lett 541:93; Wang et al. 2018 Neuroradiology
 *   meta-analysis; Cho et al. 2021 Eur Radiol meta-analysis), ventral-lateral tier first (mirrors
 *   dopaminergic cell loss, Fearnley & Lees 1991 Brain 114:2283), asymmetric (more on the side opposite
 *   the clinically more affected body side; asymmetry index ~10-30%).
 * - NM contrast ratio of SNc vs crus cerebri in controls ~0.15-0.30 (Sasaki 2006; Cassidy et al. 2019
 *   PNAS 116:5108), slowly rising with age until ~60 y.
 */

import { MrnError } from '../errors.js';
import type { Rng } from '../rng.js';
import { QSM_NUCLEUS_NAMES, type NucleusName } from '../preprocess/nucleus-labels.js';
import { lateralDirection, tierWeight } from './anatomy.js';

/** Mean susceptibility of each nucleus in healthy 60-year-olds, ppb (see the file comment). */
export const HC_NUCLEUS_QSM_PPB: Record<string, number> = {
  CN: 65,
  PUT: 80,
  GP: 170,
  THA: 5,
  STN: 115,
  SN: 145,
  RN: 115,
  DN: 125,
};

/** Between-subject SD of each nucleus's susceptibility, ppb (healthy controls). */
export const HC_NUCLEUS_QSM_SD_PPB: Record<string, number> = {
  CN: 15,
  PUT: 20,
  GP: 25,
  THA: 8,
  STN: 22,
  SN: 24,
  RN: 24,
  DN: 25,
};

/** Age slope of susceptibility, ppb per year (adults). */
export const QSM_AGE_SLOPE_PPB_PER_YEAR: Record<string, number> = {
  CN: 0.5,
  PUT: 1.2,
  GP: 0.5,
  THA: 0,
  STN: 0.4,
  SN: 0.5,
  RN: 0.7,
  DN: 0.4,
};

/** Disease effect sizes (PD mean over patients, before `difficulty`); defaults in {@link DEFAULT_DISEASE_EFFECTS}. */
export interface DiseaseEffects {
  /** Mean SN susceptibility rise, ppb (literature ~10-40). */
  snQsmRisePpb: number;
  /** Extra rise in the posterolateral SN on top of `snQsmRisePpb`, ppb. */
  snPosterolateralExtraPpb: number;
  /** Fraction of the nigrosome-1 hypointensity lost (literature: absent in ~80-95% of PD). */
  nigrosomeLoss: number;
  /** RN susceptibility rise, ppb. */
  rnQsmRisePpb: number;
  /** GP susceptibility rise, ppb. */
  gpQsmRisePpb: number;
  /** Fractional loss of NM-visible SN volume (literature ~0.2-0.4). */
  nmVolumeLoss: number;
  /** Fractional loss of the SN NM contrast ratio (literature ~0.15-0.3). */
  nmContrastLoss: number;
  /** Largest fractional difference between the more and less affected side (0..1). */
  asymmetryMax: number;
  /** SD of log severity across patients (severity has median 1). */
  severityLogSd: number;
}

/**
 * Defaults: mid-range literature effects (see the file comment). At `difficulty` 1 they are used as
 * is; the cohort's calibrated default difficulty is {@link DEFAULT_DIFFICULTY}.
 */
export const DEFAULT_DISEASE_EFFECTS: DiseaseEffects = {
  snQsmRisePpb: 12,
  snPosterolateralExtraPpb: 10,
  nigrosomeLoss: 0.8,
  rnQsmRisePpb: 8,
  gpQsmRisePpb: 6,
  nmVolumeLoss: 0.25,
  nmContrastLoss: 0.2,
  asymmetryMax: 0.4,
  severityLogSd: 0.5,
};

/**
 * The default difficulty: divides the disease effects and multiplies the image noise. Calibrated so a
 * logistic-regression baseline (per-nucleus mean QSM, NM-SN volume and contrast; 5-fold CV) on a
 * 200-case cohort lands in the 70-80% band: with the final generator it scored 79-81% at 1.25 and
 * 76.5-78.5% (AUC 0.84-0.86) at 1.5 (bench/synth.ts, seed 1, three fold seeds). Literature effects
 * come from manual ROIs on research scans; 1.5 leaves room for better models, as the issue asks.
 */
export const DEFAULT_DIFFICULTY = 1.5;

/** Healthy-control NM biology. */
export interface NmBiology {
  /** Mean SNc contrast ratio (SN / reference - 1) of 60-year-old controls. Default 0.22. */
  contrastMean: number;
  /** Between-subject SD of the contrast ratio. Default 0.04. */
  contrastSd: number;
  /** Age slope of the contrast ratio, per year. Default 0.001. */
  contrastAgeSlope: number;
  /**
   * Between-subject SD of log NM-visible SN volume in controls, on top of the SN's own size
   * variation (anatomy.ts). Default 0.1: ~13% CV in all (literature ~12-20% in control groups; the
   * five real masks span +-12%, e.g. Gaurav et al. 2021 Mov Disord; Biondetti et al. 2020).
   */
  volumeLogSd: number;
}

/** Default {@link NmBiology}. */
export const DEFAULT_NM_BIOLOGY: NmBiology = {
  contrastMean: 0.22,
  contrastSd: 0.04,
  contrastAgeSlope: 0.001,
  volumeLogSd: 0.1,
};

/** One subject's generating biology (all of it goes to truth.json). */
export interface SubjectBiology {
  /** 1 = PD, 0 = HC. */
  label: 0 | 1;
  /** Age in years (controls and patients drawn from the same distribution). */
  age: number;
  /** PD severity (median 1, log-normal); 0 for controls. */
  severity: number;
  /** The side (of the brain) with the larger effect; 'R' or 'L'. For controls, arbitrary. */
  moreAffectedSide: 'R' | 'L';
  /** Fractional side difference of the effects (0..asymmetryMax). */
  asymmetry: number;
  /** Mean susceptibility per QSM nucleus, ppb, disease effects included. */
  qsmPpb: Record<NucleusName, number>;
  /** PD's extra posterolateral SN rise per side, ppb (0 for controls). */
  snPosterolateralExtraPpb: { R: number; L: number };
  /** Nigrosome-1 depth below the surrounding SN, ppb, per side (smaller in PD). */
  nigrosomeDepthPpb: { R: number; L: number };
  /** SNc NM contrast ratio per side (mean over the NM-visible SN), disease effects included. */
  nmContrast: { R: number; L: number };
  /** Healthy NM-visible SN volume factor per side (between-subject variation, median 1). */
  nmVolumeFactor: { R: number; L: number };
  /** Fraction of NM-visible SN volume lost per side (0 for controls). */
  nmVolumeLoss: { R: number; L: number };
  /** Share of the NM contrast loss concentrated in the ventral-lateral tier, per side (0 for controls). */
  nmContrastLoss: { R: number; L: number };
}

/** Nucleus family of a QSM nucleus name (`SN_R` -> `SN`). */
function nucleusFamily(name: NucleusName): string {
  return name.slice(0, name.indexOf('_'));
}

function checkEffects(e: DiseaseEffects): void {
  for (const [k, v] of Object.entries(e)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `disease effects: ${k} must be a finite number >= 0, got ${v}`,
      );
    }
  }
  for (const k of ['nigrosomeLoss', 'nmVolumeLoss', 'nmContrastLoss', 'asymmetryMax'] as const) {
    if (e[k] > 1) throw new MrnError('E_INVALID_ARGUMENT', `disease effects: ${k} must be <= 1, got ${e[k]}`);
  }
}

/**
 * Draws one subject's biology. `difficulty` divides every disease effect. Uses only `rng`.
 *
 * Nucleus iron shares a subject-wide factor (correlation ~0.4 between nuclei, ~0.7 between the two
 * sides of one nucleus), as iron loads do in real brains.
 */
export function sampleBiology(
  rng: Rng,
  label: 0 | 1,
  options: { difficulty?: number; effects?: DiseaseEffects; nm?: NmBiology } = {},
): SubjectBiology {
  const difficulty = options.difficulty ?? DEFAULT_DIFFICULTY;
  if (!(difficulty > 0) || !Number.isFinite(difficulty)) {
    throw new MrnError('E_INVALID_ARGUMENT', `difficulty must be a finite number > 0, got ${difficulty}`);
  }
  const effects = options.effects ?? DEFAULT_DISEASE_EFFECTS;
  checkEffects(effects);
  const nmBio = options.nm ?? DEFAULT_NM_BIOLOGY;
  const scale = 1 / difficulty;

  const age = Math.min(82, Math.max(45, rng.normal(63, 8)));
  const severity = label === 1 ? Math.exp(rng.normal(0, effects.severityLogSd)) : 0;
  const moreAffectedSide: 'R' | 'L' = rng.bool() ? 'R' : 'L';
  const asymmetry = rng.uniform(0, effects.asymmetryMax);
  // Per-side effect multiplier: (1 +- asymmetry/2), the more affected side gets the larger one.
  const sideFactor = (side: 'R' | 'L') =>
    severity * scale * (side === moreAffectedSide ? 1 + asymmetry / 2 : 1 - asymmetry / 2);

  const global = rng.normal();
  const familyDraw = new Map<string, number>();
  const qsmPpb = {} as Record<NucleusName, number>;
  for (const name of QSM_NUCLEUS_NAMES) {
    const fam = nucleusFamily(name);
    if (!familyDraw.has(fam)) familyDraw.set(fam, rng.normal());
    const side = name.endsWith('_R') ? 'R' : 'L';
    // corr(nuclei) = 0.4; corr(sides of one nucleus) = 0.4 + 0.6 * 0.5 = 0.7.
    const z = Math.sqrt(0.4) * global + Math.sqrt(0.3) * familyDraw.get(fam)! + Math.sqrt(0.3) * rng.normal();
    let chi =
      HC_NUCLEUS_QSM_PPB[fam]! +
      QSM_AGE_SLOPE_PPB_PER_YEAR[fam]! * (age - 60) +
      HC_NUCLEUS_QSM_SD_PPB[fam]! * z;
    if (label === 1) {
      const f = sideFactor(side);
      if (fam === 'SN') chi += effects.snQsmRisePpb * f;
      if (fam === 'RN') chi += effects.rnQsmRisePpb * f;
      if (fam === 'GP') chi += effects.gpQsmRisePpb * f;
    }
    qsmPpb[name] = chi;
  }

  const perSide = <T>(fn: (side: 'R' | 'L') => T): { R: T; L: T } => ({ R: fn('R'), L: fn('L') });
  const pdOnly = (v: number) => (label === 1 ? v : 0);
  const nmZ = rng.normal();
  const nmContrastBase = perSide(
    () =>
      nmBio.contrastMean +
      nmBio.contrastAgeSlope * (Math.min(age, 60) - 60) +
      nmBio.contrastSd * (Math.sqrt(0.7) * nmZ + Math.sqrt(0.3) * rng.normal()),
  );
  const nmContrastLoss = perSide((s) => pdOnly(Math.min(0.9, effects.nmContrastLoss * sideFactor(s))));
  const nmVolumeLoss = perSide((s) => pdOnly(Math.min(0.8, effects.nmVolumeLoss * sideFactor(s))));
  const volZ = rng.normal();
  const nmVolumeFactor = perSide((): number =>
    Math.exp(
      nmBio.volumeLogSd * Math.max(-2, Math.min(2, Math.sqrt(0.7) * volZ + Math.sqrt(0.3) * rng.normal())),
    ),
  );
  const nigrosomeBase = perSide(() => Math.max(10, rng.normal(45, 10)));
  return {
    label,
    age,
    severity,
    moreAffectedSide,
    asymmetry,
    qsmPpb,
    snPosterolateralExtraPpb: perSide((s) => pdOnly(effects.snPosterolateralExtraPpb * sideFactor(s))),
    nigrosomeDepthPpb: perSide(
      (s) => nigrosomeBase[s] * (1 - pdOnly(Math.min(1, effects.nigrosomeLoss * sideFactor(s)))),
    ),
    nmContrast: perSide((s) => Math.max(0.02, nmContrastBase[s] * (1 - nmContrastLoss[s]))),
    nmVolumeFactor,
    nmVolumeLoss,
    nmContrastLoss,
  };
}

/** Direction weights (posterior, inferior; lateral = 1) of the posterolateral SN: PD's extra iron, nigrosome-1. */
export const SN_POSTEROLATERAL = { posterior: 1.2, inferior: 0.3 };
/** Direction weights of the ventral-lateral tier of the SNc, where PD's NM loss starts. */
export const NM_VENTROLATERAL = { posterior: 0.6, inferior: 0.6 };

/**
 * The paint limit that thins the NM-visible SN of `side` from its ventral-lateral tier: the allowed
 * radius fraction falls from 1 (dorsomedial end, tier weight 0) to `1 - 2 * rho` (ventral-lateral end),
 * about `1 - rho` on average, so the volume shrinks by ~`1 - (1 - rho)^2`. `sizeFactor` scales the
 * cross-section radius (healthy between-subject variation: volume ~ sizeFactor^2).
 */
export function nmShrinkLimit(
  centre: readonly number[],
  side: 'R' | 'L',
  rho: number,
  sizeFactor = 1,
  halfLengthMm = 4,
): (x: number, y: number, z: number) => number {
  const dir = lateralDirection(side, NM_VENTROLATERAL.posterior, NM_VENTROLATERAL.inferior);
  return (x, y, z) => sizeFactor * (1 - 2 * rho * tierWeight([x, y, z], centre, dir, halfLengthMm));
}
