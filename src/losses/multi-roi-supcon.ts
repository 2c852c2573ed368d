/**
 * The multi-ROI supervised contrastive loss of MRN: SupCon on the projected ROI tokens `[B, R, P]`,
 * either within each ROI or across the ROIs of all patients.
 */

import * as tf from '@tensorflow/tfjs';
import { invalidArgument } from '../errors.js';
import { supConLoss, type SupConContrastMode, type SupConLabels, type SupConOptions } from './supcon.js';

/**
 * How the R ROI projections of each patient enter SupCon.
 *
 * - `'per-roi'`: one single-view SupCon per ROI. For ROI r it pulls together ROI r's projections of
 *   same-class patients and pushes apart ROI r's projections of other-class patients; different ROIs
 *   never meet, so each ROI keeps its own embedding space. The R losses are averaged (weighted).
 * - `'joint'`: one SupCon with the R ROIs as R views of each patient. Positives of an ROI projection
 *   are every ROI projection of the same patient (its other ROIs) and of same-class patients (all
 *   their ROIs); so it also pulls a patient's ROIs toward one another and makes the ROI embeddings
 *   share one space.
 */
export type MultiRoiSupConMode = 'per-roi' | 'joint';

/** Options of {@link multiRoiSupConLoss}: those of {@link supConLoss} plus the multi-ROI ones. */
export interface MultiRoiSupConOptions extends Omit<SupConOptions, 'mask' | 'contrastMode'> {
  /** Default `'per-roi'`. See {@link MultiRoiSupConMode}. */
  mode?: MultiRoiSupConMode;
  /**
   * `'per-roi'` only: non-negative weight of each ROI's loss (length R, not all zero). The result is
   * `Σ w_r L_r / Σ w_r`. Default: all 1 (plain mean).
   */
  weights?: number[];
  /**
   * Optional `[B, E]` patient embedding to contrast as well. `'per-roi'`: one more single-view SupCon
   * term on it, weighted by `patientWeight` in the weighted mean (any E). `'joint'`: it is an (R+1)-th
   * view of the patient, so E must equal P.
   */
  patientEmbedding?: tf.Tensor2D;
  /** `'per-roi'` with `patientEmbedding`: its weight next to the ROI weights. Default 1. */
  patientWeight?: number;
  /** `'joint'` only: the SupCon contrast mode. Default `'all'` (every ROI view is an anchor). */
  contrastMode?: SupConContrastMode;
}

function checkWeight(name: string, w: unknown): void {
  if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) {
    throw invalidArgument('multiRoiSupConLoss', `${name} must be a finite number >= 0, got ${String(w)}`);
  }
}

/**
 * Multi-ROI SupCon of `projections` `[B, R, P]` (one projection per ROI, not normalised unless
 * `normalize: false`; SupCon normalises by default) with patient `labels` `[B]`.
 *
 * `'per-roi'` (default) = `Σ_r w_r · supConLoss(projections[:, r:r+1, :]) / Σ_r w_r` (plus the
 * patient-embedding term if given); `'joint'` = `supConLoss(projections)` with V = R views. See
 * {@link MultiRoiSupConMode} for what each pulls together.
 *
 * @returns a scalar loss.
 * @throws MrnError `E_INVALID_ARGUMENT` for a wrong rank or shape, bad weights, options that do not
 *   apply to the chosen mode, or any error of {@link supConLoss}.
 */
export function multiRoiSupConLoss(
  projections: tf.Tensor3D,
  labels: SupConLabels,
  options: MultiRoiSupConOptions = {},
): tf.Scalar {
  if (!(projections instanceof tf.Tensor) || projections.rank !== 3) {
    throw invalidArgument(
      'multiRoiSupConLoss',
      `projections must be a [B, R, P] tensor, got shape [${projections?.shape}]`,
    );
  }
  const [b, r, p] = projections.shape;
  const mode = options.mode ?? 'per-roi';
  if (mode !== 'per-roi' && mode !== 'joint')
    throw invalidArgument('multiRoiSupConLoss', `mode must be 'per-roi' or 'joint', got '${String(mode)}'`);
  const patient = options.patientEmbedding;
  if (
    patient !== undefined &&
    (!(patient instanceof tf.Tensor) || patient.rank !== 2 || patient.shape[0] !== b)
  ) {
    throw invalidArgument(
      'multiRoiSupConLoss',
      `patientEmbedding must be [${b}, E], got [${patient?.shape}]`,
    );
  }
  const { mode: _mode, weights, patientEmbedding: _p, patientWeight, contrastMode, ...supcon } = options;
  if (mode === 'joint') {
    if (weights !== undefined)
      throw invalidArgument('multiRoiSupConLoss', "weights apply to mode 'per-roi' only");
    if (patientWeight !== undefined)
      throw invalidArgument('multiRoiSupConLoss', "patientWeight applies to mode 'per-roi' only");
    if (patient !== undefined && patient.shape[1] !== p) {
      throw invalidArgument(
        'multiRoiSupConLoss',
        `in mode 'joint' the patient embedding is one more view, so its width must be P = ${p}`,
        {
          patientWidth: patient.shape[1],
          projectionWidth: p,
        },
      );
    }
    return tf.tidy(() => {
      const views =
        patient === undefined ? projections : tf.concat([projections, patient.reshape([b, 1, p])], 1);
      return supConLoss(views, labels, { ...supcon, contrastMode: contrastMode ?? 'all' });
    });
  }
  if (contrastMode !== undefined)
    throw invalidArgument('multiRoiSupConLoss', "contrastMode applies to mode 'joint' only");
  const roiWeights = weights ?? new Array<number>(r).fill(1);
  if (!Array.isArray(roiWeights) || roiWeights.length !== r) {
    throw invalidArgument(
      'multiRoiSupConLoss',
      `weights must have one entry per ROI (${r}), got ${Array.isArray(roiWeights) ? roiWeights.length : typeof roiWeights}`,
    );
  }
  roiWeights.forEach((w, i) => checkWeight(`weights[${i}]`, w));
  const patientW = patient === undefined ? 0 : (patientWeight ?? 1);
  checkWeight('patientWeight', patientW);
  const totalWeight = roiWeights.reduce((s, w) => s + w, 0) + patientW;
  if (totalWeight <= 0) throw invalidArgument('multiRoiSupConLoss', 'the weights sum to 0');
  return tf.tidy(() => {
    const terms: tf.Scalar[] = [];
    for (let i = 0; i < r; i++) {
      if (roiWeights[i] === 0) continue;
      const view = tf.slice(projections, [0, i, 0], [b, 1, p]);
      terms.push(tf.mul(supConLoss(view, labels, supcon), roiWeights[i]));
    }
    if (patient !== undefined && patientW > 0) {
      const view = patient.reshape([b, 1, patient.shape[1]]);
      terms.push(tf.mul(supConLoss(view, labels, supcon), patientW));
    }
    return tf.div(tf.addN(terms), totalWeight) as tf.Scalar;
  });
}
