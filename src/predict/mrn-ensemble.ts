/**
 * The ensemble predictor both entries share: the members (`MultiRoiNet`s), the encoder running the
 * backbone they were trained on, and the preprocessing of training. It predicts a case from its
 * volumes in memory ({@link preprocessVolumes}) or already preprocessed. `loadMrn` (Node) builds one
 * from a run folder on disk, {@link loadMrnFromFiles} from a run's files in a browser.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import type { MultiRoiNet } from '../layers/multi-roi-net.js';
import { type SliceBackboneLike, SliceEncoder } from '../layers/slice-encoder.js';
import type { MrnBatch, RoiFeatureInput } from '../layers/types.js';
import { PDCAD_FILE_ROLES, type PdcadFileRole } from '../pdcad/pdcad-case.js';
import {
  preprocessVolumes,
  type PreprocessedCase,
  type PreprocessOptions,
} from '../pdcad/preprocess-case.js';
import type { RoiSample } from '../preprocess/augment/sample.js';
import type { Volume } from '../preprocess/volume.js';
import type { CheckpointBackbone } from '../train/checkpoint.js';

/** A case given as its four volumes (co-registered, as read by `readNifti` or decoded by `decodeNifti`). */
export type CaseVolumes = Record<PdcadFileRole, Volume>;

/** Per-ROI details of a prediction, for explanations. */
export interface RoiPredictionDetail {
  roiId: string;
  /** The preprocessed slices `[D, S, S]` the model saw. */
  slices: Float32Array;
  depth: number;
  size: number;
  valid: Uint8Array;
  /** The reference masks from the case's mask files `[D, S, S]`. */
  masks: Int32Array;
  /** Aux-head classes `[D, S, S]` (argmax of the ensemble's mean probabilities). */
  predicted: Int32Array;
  /** Class names (1..) of the ROI. */
  classNames: string[];
}

/** One case's prediction. */
export interface MrnCasePrediction {
  caseId: string;
  /** Probability of PD (mean over the ensemble members). */
  probPd: number;
  /** 1 = PD, 0 = HC (`probPd >= 0.5`). */
  pred: 0 | 1;
  /** Per ROI: slice attention weights (mean over members). */
  sliceAttention: Record<string, number[]>;
  /** Attention of the patient fusion over ROIs (mean over members), when the model has it. */
  roiAttention?: Record<string, number>;
  /** Each member's PD probability. */
  memberProbs: number[];
  /** With `explain: true`: slices, masks and aux segmentation per ROI. */
  details?: RoiPredictionDetail[];
}

/** What {@link createMrnEnsemble} assembles. */
export interface MrnEnsembleParts {
  /** The members (fold models), in order; the ensemble owns and frees them. */
  models: MultiRoiNet[];
  /** The backbone the members were trained on. */
  backbone: SliceBackboneLike;
  /** Its record from training (kind, sha256, ...). */
  recorded: CheckpointBackbone;
  /** The preprocessing settings of training, used for every case. */
  preprocessing: PreprocessOptions & { variants?: number };
  /** Frees the backbone when the ensemble is disposed (default: nothing, the caller keeps it). */
  disposeBackbone?: () => void;
}

/** A loaded ensemble ready to predict (see the module notes). */
export interface MrnEnsemble {
  /** Number of ensemble members. */
  readonly members: number;
  /** The backbone the model was trained on (and now runs with). */
  readonly backbone: CheckpointBackbone;
  /** The preprocessing settings of training (also used here). */
  readonly preprocessing: PreprocessOptions & { variants?: number };
  /** ROI ids in model order. */
  readonly roiIds: string[];
  /**
   * Predicts a case from its four volumes (as decoded, any orientation): {@link preprocessVolumes}
   * with the training settings, then {@link MrnEnsemble.predictPreprocessed}.
   *
   * @throws MrnError `E_INVALID_ARGUMENT` when a volume is missing; preprocessing errors, naming the case.
   */
  predictVolumes(
    input: { id?: string; volumes: CaseVolumes },
    options?: PredictOptions,
  ): Promise<MrnCasePrediction>;
  /** Predicts a case preprocessed with {@link MrnEnsemble.preprocessing}. */
  predictPreprocessed(pre: PreprocessedCase, options?: PredictOptions): Promise<MrnCasePrediction>;
  /** Frees every member and (when it owns it) the backbone. */
  dispose(): void;
}

/** Options of a prediction. */
export interface PredictOptions {
  /** Also return, per ROI, the slices, masks and the aux segmentation ({@link MrnCasePrediction.details}). */
  explain?: boolean;
}

/**
 * Assembles an ensemble from loaded members and their backbone.
 *
 * @throws MrnError `E_CHECKPOINT` when the backbone's width is not the members' (the members and the
 *   backbone, when owned, are freed first).
 */
export function createMrnEnsemble(parts: MrnEnsembleParts): MrnEnsemble {
  const { models } = parts;
  const disposeAll = () => {
    models.forEach((m) => m.dispose());
    parts.disposeBackbone?.();
  };
  const encoder = new SliceEncoder({ name: 'predict_slice_encoder', backbone: parts.backbone });
  if (models.length === 0 || encoder.backbone.embedDim !== models[0]!.config.backboneDim) {
    disposeAll();
    throw new MrnError(
      'E_CHECKPOINT',
      models.length === 0
        ? 'an ensemble needs at least one member'
        : `backbone width ${encoder.backbone.embedDim} does not match the model's ${models[0]!.config.backboneDim}`,
    );
  }
  const ensemble: Ensemble = { models, encoder, prep: parts.preprocessing, roiIds: models[0]!.roiIds };
  return {
    members: models.length,
    backbone: parts.recorded,
    preprocessing: ensemble.prep,
    roiIds: ensemble.roiIds,
    predictVolumes: async (input, opts = {}) => {
      const id = input.id ?? 'case';
      for (const role of PDCAD_FILE_ROLES) {
        if (!input.volumes[role])
          throw new MrnError('E_INVALID_ARGUMENT', `predictCase: volumes lack ${role}`, { caseId: id });
      }
      return predictWithEnsemble(
        ensemble,
        preprocessVolumes({ id, volumes: input.volumes }, ensemble.prep),
        opts,
      );
    },
    predictPreprocessed: (pre, opts = {}) => predictWithEnsemble(ensemble, pre, opts),
    dispose: disposeAll,
  };
}

/** A loaded ensemble: its members, the encoder running the backbone, the preprocessing of training. */
interface Ensemble {
  models: MultiRoiNet[];
  encoder: SliceEncoder;
  prep: PreprocessOptions & { variants?: number };
  /** ROI ids in model order. */
  roiIds: string[];
}

/** One member's reading of a case. */
interface MemberReading {
  prob: number;
  att: Record<string, number[]>;
  roiAtt?: Record<string, number>;
}

/**
 * Predicts one preprocessed case with every member: encode each ROI's slices with the backbone, run
 * the members and average their PD probabilities and attention weights; with `explain`, also the
 * members' mean aux segmentation at slice resolution.
 */
async function predictWithEnsemble(
  ensemble: Ensemble,
  pre: PreprocessedCase,
  opts: PredictOptions,
): Promise<MrnCasePrediction> {
  const { models, roiIds, prep } = ensemble;
  const owned: tf.Tensor[] = [];
  // Per ROI: the sum over members of the aux head's class probabilities (explanations only).
  const segSum: Record<string, tf.Tensor> = {};
  try {
    const batch = await encodeCase(pre, ensemble.encoder, owned);
    const readings = models.map((model) =>
      readMember(model, batch, roiIds, opts.explain ? segSum : undefined),
    );
    const n = models.length;
    const probs = readings.map((r) => r.prob);
    const att = readings.map((r) => r.att);
    const roiAtt = readings.flatMap((r) => (r.roiAtt ? [r.roiAtt] : []));
    const probPd = probs.reduce((a, b) => a + b, 0) / n;
    const sliceAttention = Object.fromEntries(
      roiIds.map((id) => [id, att[0]![id]!.map((_, d) => att.reduce((s, a) => s + a[id]![d]!, 0) / n)]),
    );
    const roiAttention = roiAtt.length
      ? Object.fromEntries(roiIds.map((id) => [id, roiAtt.reduce((s, a) => s + a[id]!, 0) / n]))
      : undefined;
    const details = opts.explain ? explanationDetails(pre, segSum, prep) : undefined;
    return {
      caseId: pre.caseId,
      probPd,
      pred: probPd >= 0.5 ? 1 : 0,
      sliceAttention,
      roiAttention,
      memberProbs: probs,
      details,
    };
  } finally {
    tf.dispose(Object.values(segSum));
    tf.dispose(owned);
  }
}

/** The backbone's features of each ROI's slices, as a one-case batch; every tensor made goes to `owned`. */
async function encodeCase(
  pre: PreprocessedCase,
  encoder: SliceEncoder,
  owned: tf.Tensor[],
): Promise<MrnBatch> {
  const rois: Record<string, RoiFeatureInput> = {};
  for (const roi of pre.rois) {
    const s: RoiSample = roi;
    const slices = tf.tensor5d(s.slices, [1, s.depth, s.size, s.size, 1]);
    const valid = tf.tensor2d(Float32Array.from(s.valid), [1, s.depth]);
    owned.push(slices, valid);
    const f = await encoder.encode(slices, { valid });
    owned.push(f.patch, f.cls);
    rois[roi.roiId] = { patch: f.patch, cls: f.cls, valid };
  }
  return { rois };
}

/**
 * One member's PD probability and attention weights; with `segSum`, its aux class probabilities
 * (at slice resolution, whatever resolution the model trained at) are added there.
 */
function readMember(
  model: MultiRoiNet,
  batch: MrnBatch,
  roiIds: readonly string[],
  segSum: Record<string, tf.Tensor> | undefined,
): MemberReading {
  const read = tf.tidy(() => {
    const o = model.apply(batch, { training: false, segResolution: segSum ? 'full' : undefined });
    if (segSum) {
      for (const id of o.roiIds) {
        const p = tf.softmax(o.segLogits[id]!);
        const prev = segSum[id];
        segSum[id] = tf.keep(prev ? tf.add(prev, p) : p);
        if (prev) prev.dispose();
      }
    }
    return {
      prob: tf.softmax(o.logits).slice([0, 1], [1, 1]).reshape([1]),
      att: o.roiIds.map((id) => o.sliceAttention[id]!.reshape([-1])),
      roiAtt: o.roiAttention?.reshape([-1]),
    };
  });
  const reading: MemberReading = {
    prob: read.prob.dataSync()[0]!,
    att: Object.fromEntries(roiIds.map((id, k) => [id, Array.from(read.att[k]!.dataSync())])),
    roiAtt: read.roiAtt
      ? Object.fromEntries(roiIds.map((id, k) => [id, read.roiAtt!.dataSync()[k]!]))
      : undefined,
  };
  tf.dispose([read.prob, ...read.att, ...(read.roiAtt ? [read.roiAtt] : [])]);
  return reading;
}

/** Per ROI: the slices, true masks and the ensemble's predicted classes (argmax of the summed maps). */
function explanationDetails(
  pre: PreprocessedCase,
  segSum: Record<string, tf.Tensor>,
  prep: PreprocessOptions,
): RoiPredictionDetail[] {
  return pre.rois.map((roi) => {
    const cls = tf.tidy(() => tf.argMax(segSum[roi.roiId]!, -1).reshape([-1]));
    const predicted = Int32Array.from(cls.dataSync());
    cls.dispose();
    const def = (prep.rois ?? []).find((r) => r.id === roi.roiId);
    return {
      roiId: roi.roiId,
      slices: roi.slices,
      depth: roi.depth,
      size: roi.size,
      valid: roi.valid,
      masks: roi.masks,
      predicted,
      classNames: def ? def.classes.map((c) => c.name).slice(1) : [],
    };
  });
}
