/**
 * The training augmentation pipeline: draws each transform's parameters from its documented range
 * with a seeded {@link Rng} and applies them in a fixed order (slice jitter, flip, rotate/scale,
 * intensity scale/shift, gamma, noise). The same sample and rng state always give the same result,
 * and the drawn parameters are returned so a run can log or replay them.
 */

import { MrnError } from '../../errors.js';
import type { Rng } from '../../rng.js';
import { roiClassMirror, type RoiDefinition } from '../roi-definitions.js';
import { flipLeftRight } from './flip.js';
import { applyIntensitySteps, type IntensitySteps } from './intensity.js';
import { rotateScale } from './rotate-scale.js';
import { checkSample, cloneSample, type RoiSample } from './sample.js';
import { sliceJitter } from './slice-jitter.js';

/** Ranges and probabilities of {@link createRoiAugmentation}. Each transform is skipped when its probability is 0. */
export interface AugmentationOptions {
  /** Probability of a left-right flip (default 0.5). */
  flipProbability?: number;
  /** Probability of a rotation/scale (default 0.8). */
  rotateScaleProbability?: number;
  /** Maximum |angle| in degrees, uniform (default 10). */
  maxRotationDeg?: number;
  /** Zoom range, log-uniform (default [0.9, 1.1]). */
  scaleRange?: readonly [number, number];
  /** Probability of intensity scale/shift (default 0.8). */
  intensityProbability?: number;
  /** Intensity scale range, uniform (default [0.9, 1.1]). */
  intensityScaleRange?: readonly [number, number];
  /** Intensity shift range, uniform (default [-0.05, 0.05]). */
  intensityShiftRange?: readonly [number, number];
  /** Probability of a gamma bend (default 0.5). */
  gammaProbability?: number;
  /** Gamma range, log-uniform (default [0.8, 1.25]). */
  gammaRange?: readonly [number, number];
  /** Probability of Gaussian noise (default 0.5). */
  noiseProbability?: number;
  /** Noise std range, uniform (default [0, 0.02]). */
  noiseStdRange?: readonly [number, number];
  /** Maximum |slice shift|, integer, uniform over -max..max (default 1). */
  maxSliceShift?: number;
  /** Output depth (default: the input sample's depth; smaller when the cache holds extra slices). */
  depth?: number;
}

/** The parameters one call of the pipeline drew (absent: that transform was not applied). */
export interface AppliedAugmentation {
  sliceShift?: number;
  flip?: boolean;
  angleDeg?: number;
  scale?: number;
  intensityScale?: number;
  intensityShift?: number;
  gamma?: number;
  noiseStd?: number;
}

/** Decisions shared across the ROIs of one patient (e.g. flip all four or none). */
export interface SharedAugmentation {
  /** Force the flip decision. */
  flip?: boolean;
}

/** An augmentation function for one ROI. */
export type RoiAugmentation = (
  sample: RoiSample,
  rng: Rng,
  shared?: SharedAugmentation,
) => { sample: RoiSample; applied: AppliedAugmentation };

/** The defaults of {@link AugmentationOptions}. */
export const DEFAULT_AUGMENTATION: Readonly<Required<Omit<AugmentationOptions, 'depth'>>> = Object.freeze({
  flipProbability: 0.5,
  rotateScaleProbability: 0.8,
  maxRotationDeg: 10,
  scaleRange: [0.9, 1.1] as const,
  intensityProbability: 0.8,
  intensityScaleRange: [0.9, 1.1] as const,
  intensityShiftRange: [-0.05, 0.05] as const,
  gammaProbability: 0.5,
  gammaRange: [0.8, 1.25] as const,
  noiseProbability: 0.5,
  noiseStdRange: [0, 0.02] as const,
  maxSliceShift: 1,
});

function checkRange(r: readonly [number, number], name: string, positive = false): void {
  if (
    !Array.isArray(r) ||
    r.length !== 2 ||
    !(r[0] <= r[1]) ||
    !Number.isFinite(r[0]) ||
    !Number.isFinite(r[1]) ||
    (positive && !(r[0] > 0))
  ) {
    throw new MrnError(
      'E_CONFIG',
      `augmentation: ${name} must be [low, high] with low <= high${positive ? ', both > 0' : ''}, got [${r}]`,
    );
  }
}

/**
 * Builds the augmentation for one ROI (its class mirror table comes from the ROI definition).
 * Draw order per call is fixed, and every probability is drawn even when 0, so changing one range
 * never shifts the random numbers of the other transforms.
 *
 * @throws MrnError `E_CONFIG` for invalid ranges or probabilities.
 *
 * @example
 * ```ts
 * const augment = createRoiAugmentation(getMrnRoi('qsm-mb'));
 * const rng = createRng(seed).fork();
 * const { sample, applied } = augment(roiSlices, rng);
 * ```
 */
export function createRoiAugmentation(
  roi: RoiDefinition,
  options: AugmentationOptions = {},
): RoiAugmentation {
  const o: AugmentationSettings = { ...DEFAULT_AUGMENTATION, ...options };
  checkAugmentationSettings(o);
  const mirror = roiClassMirror(roi);
  return (input, rng, shared = {}) => {
    checkSample(input, 'augmentation');
    const draws = drawAugmentation(rng, o);
    return applyAugmentation(input, draws, shared.flip ?? draws.flip, o.depth ?? input.depth, mirror);
  };
}

/** The options with every default filled in (`depth` stays optional: the sample's own by default). */
type AugmentationSettings = Readonly<Required<Omit<AugmentationOptions, 'depth'>>> &
  Pick<AugmentationOptions, 'depth'>;

/** Refuses probabilities outside [0, 1] and invalid ranges, shifts and angles. */
function checkAugmentationSettings(o: AugmentationSettings): void {
  for (const p of [
    'flipProbability',
    'rotateScaleProbability',
    'intensityProbability',
    'gammaProbability',
    'noiseProbability',
  ] as const) {
    if (!(o[p] >= 0 && o[p] <= 1))
      throw new MrnError('E_CONFIG', `augmentation: ${p} must be in [0, 1], got ${o[p]}`);
  }
  checkRange(o.scaleRange, 'scaleRange', true);
  checkRange(o.intensityScaleRange, 'intensityScaleRange');
  checkRange(o.intensityShiftRange, 'intensityShiftRange');
  checkRange(o.gammaRange, 'gammaRange', true);
  checkRange(o.noiseStdRange, 'noiseStdRange');
  if (!(o.noiseStdRange[0] >= 0)) throw new MrnError('E_CONFIG', 'augmentation: noiseStdRange must be >= 0');
  if (!(o.maxRotationDeg >= 0)) throw new MrnError('E_CONFIG', 'augmentation: maxRotationDeg must be >= 0');
  if (!Number.isInteger(o.maxSliceShift) || o.maxSliceShift < 0) {
    throw new MrnError(
      'E_CONFIG',
      `augmentation: maxSliceShift must be a non-negative integer, got ${o.maxSliceShift}`,
    );
  }
}

/** Every parameter of one call, drawn whether or not its transform applies. */
interface AugmentationDraws {
  shift: number;
  flip: boolean;
  doRotate: boolean;
  angle: number;
  scale: number;
  doIntensity: boolean;
  iScale: number;
  iShift: number;
  doGamma: boolean;
  gamma: number;
  doNoise: boolean;
  noiseStd: number;
  noiseRng: Rng;
}

/** A log-uniform draw from `[a, b]` (a, b > 0). */
function logUniform(rng: Rng, [a, b]: readonly [number, number]): number {
  return Math.exp(rng.uniform(Math.log(a), Math.log(b)));
}

/** Draws everything first, in a fixed order, so one range never shifts another's random numbers. */
function drawAugmentation(rng: Rng, o: AugmentationSettings): AugmentationDraws {
  const shift = rng.int(-o.maxSliceShift, o.maxSliceShift + 1);
  const flip = rng.bool(o.flipProbability);
  const doRotate = rng.bool(o.rotateScaleProbability);
  const angle = rng.uniform(-o.maxRotationDeg, o.maxRotationDeg);
  const scale = logUniform(rng, o.scaleRange);
  const doIntensity = rng.bool(o.intensityProbability);
  const iScale = rng.uniform(o.intensityScaleRange[0], o.intensityScaleRange[1]);
  const iShift = rng.uniform(o.intensityShiftRange[0], o.intensityShiftRange[1]);
  const doGamma = rng.bool(o.gammaProbability);
  const gamma = logUniform(rng, o.gammaRange);
  const doNoise = rng.bool(o.noiseProbability);
  const noiseStd = rng.uniform(o.noiseStdRange[0], o.noiseStdRange[1]);
  const noiseRng = rng.fork();
  return {
    shift,
    flip,
    doRotate,
    angle,
    scale,
    doIntensity,
    iScale,
    iShift,
    doGamma,
    gamma,
    doNoise,
    noiseStd,
    noiseRng,
  };
}

/** Applies the drawn transforms in the fixed order; returns a copy even when none applied. */
function applyAugmentation(
  input: RoiSample,
  d: AugmentationDraws,
  flip: boolean,
  depth: number,
  mirror: Int32Array,
): { sample: RoiSample; applied: AppliedAugmentation } {
  const applied: AppliedAugmentation = {};
  let s = input;
  if (d.shift !== 0 || depth !== input.depth) {
    s = sliceJitter(s, d.shift, depth);
    applied.sliceShift = d.shift;
  }
  if (flip) {
    s = flipLeftRight(s, mirror);
    applied.flip = true;
  }
  if (d.doRotate) {
    s = rotateScale(s, { angleDeg: d.angle, scale: d.scale });
    applied.angleDeg = d.angle;
    applied.scale = d.scale;
  }
  const steps: IntensitySteps = {};
  if (d.doIntensity) {
    steps.scaleShift = { scale: d.iScale, shift: d.iShift };
    applied.intensityScale = d.iScale;
    applied.intensityShift = d.iShift;
  }
  if (d.doGamma) {
    steps.gamma = d.gamma;
    applied.gamma = d.gamma;
  }
  if (d.doNoise) {
    steps.noise = { std: d.noiseStd, rng: d.noiseRng };
    applied.noiseStd = d.noiseStd;
  }
  // One pass for the three intensity transforms: the same numbers as applying them in turn.
  if (d.doIntensity || d.doGamma || d.doNoise) s = applyIntensitySteps(s, steps);
  return { sample: s === input ? cloneSample(input) : s, applied };
}

/**
 * Augments the ROIs of one patient with one shared flip decision (so left/right relations between
 * ROIs survive), each ROI otherwise drawing its own parameters from a fork of `rng`.
 */
export function augmentCaseRois(
  samples: readonly RoiSample[],
  augmentations: readonly RoiAugmentation[],
  rng: Rng,
  flipProbability = DEFAULT_AUGMENTATION.flipProbability,
): { samples: RoiSample[]; applied: AppliedAugmentation[] } {
  if (samples.length !== augmentations.length) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `augmentCaseRois: ${samples.length} samples but ${augmentations.length} augmentations`,
    );
  }
  const flip = rng.bool(flipProbability);
  const out = samples.map((s, i) => augmentations[i]!(s, rng.fork(), { flip }));
  return { samples: out.map((o) => o.sample), applied: out.map((o) => o.applied) };
}
