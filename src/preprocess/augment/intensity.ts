/**
 * Intensity augmentations on normalised images (values in [0, 1] after {@link normalizeRoiImage}).
 * They model scanner and reconstruction variation, so they stay small: a few percent of the window,
 * well below the disease effect they must not drown (PD's SN susceptibility rise is ~0.04-0.06 of the
 * default QSM window). Invalid (padded) slices are left untouched; masks are never changed.
 */

import { MrnError } from '../../errors.js';
import type { Rng } from '../../rng.js';
import { checkSample, type RoiSample } from './sample.js';

/**
 * The intensity transforms of one pipeline call, applied in this order; an absent step is skipped.
 * One pass over the pixels gives exactly what the separate functions give in turn: every step rounds
 * to float32 where they store into a `Float32Array`, and the noise draws come in the same pixel order.
 */
export interface IntensitySteps {
  /** `v * scale + shift` ({@link scaleShiftIntensity}). */
  scaleShift?: { scale: number; shift: number };
  /** `sign(v) * |v|^gamma` ({@link gammaIntensity}). */
  gamma?: number;
  /** `v + N(0, std)` ({@link gaussianNoise}); std 0 draws nothing. */
  noise?: { std: number; rng: Rng };
}

/** Gamma of one value, keeping the sign. */
function gammaOf(v: number, gamma: number): number {
  return v < 0 ? -Math.pow(-v, gamma) : Math.pow(v, gamma);
}

/**
 * Applies `steps` to every pixel of the valid slices in one pass (masks and validity copied). The
 * parameters are not checked here: the public functions below and the pipeline check them.
 */
export function applyIntensitySteps(sample: RoiSample, steps: IntensitySteps): RoiSample {
  const { depth: D, size: S } = sample;
  const plane = S * S;
  const slices = sample.slices.slice();
  const { scaleShift, gamma, noise } = steps;
  const noisy = noise && noise.std !== 0 ? noise : undefined;
  const f = Math.fround;
  for (let z = 0; z < D; z++) {
    if (!sample.valid[z]) continue;
    for (let p = z * plane; p < (z + 1) * plane; p++) {
      let v = slices[p]!;
      if (scaleShift) v = f(v * scaleShift.scale + scaleShift.shift);
      if (gamma !== undefined) v = f(gammaOf(v, gamma));
      if (noisy) v = f(v + noisy.rng.normal(0, noisy.std));
      slices[p] = v;
    }
  }
  return { depth: D, size: S, slices, masks: sample.masks.slice(), valid: sample.valid.slice() };
}

/**
 * `v * scale + shift` on every pixel of the valid slices. Recommended: scale 0.9-1.1, shift +-0.05.
 * @throws MrnError `E_INVALID_ARGUMENT` for non-finite parameters.
 */
export function scaleShiftIntensity(sample: RoiSample, scale: number, shift: number): RoiSample {
  checkSample(sample, 'scaleShiftIntensity');
  if (!Number.isFinite(scale) || !Number.isFinite(shift)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `scaleShiftIntensity: scale and shift must be finite, got ${scale}, ${shift}`,
    );
  }
  return applyIntensitySteps(sample, { scaleShift: { scale, shift } });
}

/**
 * Gamma `sign(v) * |v|^gamma` (a monotone contrast bend that keeps 0 and 1 fixed). Recommended:
 * gamma log-uniform in 0.8-1.25.
 * @throws MrnError `E_INVALID_ARGUMENT` for a non-positive gamma.
 */
export function gammaIntensity(sample: RoiSample, gamma: number): RoiSample {
  checkSample(sample, 'gammaIntensity');
  if (!(gamma > 0) || !Number.isFinite(gamma)) {
    throw new MrnError('E_INVALID_ARGUMENT', `gammaIntensity: gamma must be positive, got ${gamma}`);
  }
  return applyIntensitySteps(sample, { gamma });
}

/**
 * Adds independent Gaussian noise `N(0, std)` to every pixel of the valid slices. Recommended: std
 * 0-0.02 (QSM noise is ~5-10 ppb, i.e. 0.01-0.02 of the default window).
 * @throws MrnError `E_INVALID_ARGUMENT` for a negative std.
 */
export function gaussianNoise(sample: RoiSample, std: number, rng: Rng): RoiSample {
  checkSample(sample, 'gaussianNoise');
  if (!(std >= 0) || !Number.isFinite(std)) {
    throw new MrnError('E_INVALID_ARGUMENT', `gaussianNoise: std must be >= 0, got ${std}`);
  }
  return applyIntensitySteps(sample, { noise: { std, rng } });
}
