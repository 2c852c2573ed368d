/**
 * The library-level predictor: `loadMrn(dir)` loads a trained run (the ensemble manifest `model.json`
 * that training writes, or a single checkpoint folder) with its backbone, and predicts cases from
 * their folder or from volumes already in memory. The backbone is checked against the one the model
 * was trained on (sha256 of its weights); a mismatch is refused, never silently used.
 */

import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RoiSample } from '../preprocess/augment/sample.js';
import { writeNifti } from '../io/nifti-writer.js';
import { type PdcadCase, type PdcadFileRole, PDCAD_FILE_ROLES } from '../pdcad/pdcad-case.js';
import { preprocessCase, type PreprocessedCase, type PreprocessOptions } from '../pdcad/preprocess-case.js';
import type { Volume } from '../preprocess/volume.js';
import { MrnError } from '../errors.js';
import { MultiRoiNet } from '../layers/multi-roi-net.js';
import { SliceEncoder } from '../layers/slice-encoder.js';
import type { MrnBatch, RoiFeatureInput } from '../layers/types.js';
import type { ResolvedBackbone } from '../train/backbone.js';
import { type CheckpointBackbone, readCheckpointMeta } from '../train/checkpoint.js';
import type { EnsembleManifest } from '../train/run.js';
import { loadRecordedBackbone } from './recorded-backbone.js';

/** A case given as its four volumes (co-registered, as read by {@link readNifti}). */
export type CaseVolumes = Record<PdcadFileRole, Volume>;

/** A case to predict: its folder, a case record, or its volumes. */
export type CaseInput = string | Pick<PdcadCase, 'id' | 'files'> | { id?: string; volumes: CaseVolumes };

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

/** A loaded model (ensemble) ready to predict. */
export interface MrnPredictor {
  /** Number of ensemble members. */
  readonly members: number;
  /** The backbone the model was trained on (and now runs with). */
  readonly backbone: CheckpointBackbone;
  /** The preprocessing settings of training (also used here). */
  readonly preprocessing: PreprocessOptions & { variants?: number };
  /** ROI ids in model order. */
  readonly roiIds: string[];
  /** Predicts one case. Throws `MrnError`s naming the case when its files are unusable. */
  predictCase(input: CaseInput, options?: { explain?: boolean }): Promise<MrnCasePrediction>;
  /** Frees every model and the backbone. */
  dispose(): void;
}

/** Options of {@link loadMrn}. */
export interface LoadMrnOptions {
  /**
   * The backbone to run with: a DINOv2 folder, `.safetensors` or `.onnx` path, or an already resolved
   * backbone (required for a model trained on a {@link customBackbone}; it stays the caller's to
   * dispose). Default: the one recorded at training (the run's saved random backbone, or the recorded
   * path). Refused when its sha256 differs from the recorded one.
   */
  backbone?: string | ResolvedBackbone;
}

function findCaseFiles(dir: string): Record<PdcadFileRole, string> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new MrnError('E_FILE_NOT_FOUND', 'case folder not found', {
      file: dir,
      caseId: path.basename(dir),
    });
  }
  const files = {} as Record<PdcadFileRole, string>;
  for (const role of PDCAD_FILE_ROLES) {
    const found = ['.nii.gz', '.nii']
      .map((ext) => path.join(dir, `${role}${ext}`))
      .find((f) => fs.existsSync(f));
    if (!found) {
      throw new MrnError('E_FILE_NOT_FOUND', `missing ${role}.nii.gz`, {
        file: path.join(dir, `${role}.nii.gz`),
        caseId: path.basename(dir),
      });
    }
    files[role] = found;
  }
  return files;
}

/**
 * Reads and validates a run folder's ensemble manifest (`model.json` written by `mrn train`).
 * Returns undefined when the file is JSON but not an ensemble manifest (a single model's
 * `model.json`). Throws `E_CHECKPOINT` naming the file when it is not JSON, lists no members, names a
 * member outside the run folder, or lacks the backbone record.
 */
export function readEnsembleManifest(file: string): EnsembleManifest | undefined {
  let m: unknown;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new MrnError('E_CHECKPOINT', `ensemble manifest is not valid JSON: ${(cause as Error).message}`, {
      file,
      cause,
    });
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) {
    throw new MrnError('E_CHECKPOINT', 'ensemble manifest is not a JSON object', { file });
  }
  const manifest = m as Partial<EnsembleManifest>;
  if (manifest.format !== 'mrn-ensemble') return undefined;
  const members = manifest.members as unknown;
  if (!Array.isArray(members) || members.length === 0) {
    throw new MrnError('E_CHECKPOINT', 'ensemble manifest lists no members', { file });
  }
  for (const p of members as unknown[]) {
    if (typeof p !== 'string' || p === '' || path.isAbsolute(p) || path.normalize(p).startsWith('..')) {
      throw new MrnError(
        'E_CHECKPOINT',
        `ensemble member ${JSON.stringify(p)} is not a folder inside the run`,
        {
          file,
        },
      );
    }
  }
  const b = manifest.backbone as unknown as Record<string, unknown> | null | undefined;
  if (b === null || typeof b !== 'object' || typeof b.kind !== 'string' || typeof b.sha256 !== 'string') {
    throw new MrnError('E_CHECKPOINT', 'ensemble manifest lacks the backbone record { kind, sha256 }', {
      file,
    });
  }
  return manifest as EnsembleManifest;
}

function resolveMembers(dir: string): {
  members: string[];
  backbone: CheckpointBackbone;
  preprocessing: unknown;
  root: string;
} {
  const manifestFile = path.join(dir, 'model.json');
  if (fs.existsSync(manifestFile)) {
    const m = readEnsembleManifest(manifestFile);
    if (m) {
      return {
        members: m.members.map((p) => path.join(dir, p)),
        backbone: m.backbone,
        preprocessing: m.preprocessing,
        root: dir,
      };
    }
  }
  const meta = readCheckpointMeta(dir);
  return {
    members: [dir],
    backbone: meta.backbone,
    preprocessing: meta.preprocessing,
    root: path.resolve(dir, '..', '..'),
  };
}

async function casePreprocessed(input: CaseInput, prep: PreprocessOptions): Promise<PreprocessedCase> {
  if (typeof input === 'string') {
    const id = path.basename(path.resolve(input));
    return preprocessCase({ id, label: undefined, files: findCaseFiles(input) }, prep);
  }
  if ('files' in input) return preprocessCase({ id: input.id, label: undefined, files: input.files }, prep);
  // Volumes in memory: preprocessCase reads files, so write them to a private temporary folder.
  const id = input.id ?? 'case';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-case-'));
  try {
    const files = {} as Record<PdcadFileRole, string>;
    for (const role of PDCAD_FILE_ROLES) {
      const v = input.volumes[role];
      if (!v) throw new MrnError('E_INVALID_ARGUMENT', `predictCase: volumes lack ${role}`, { caseId: id });
      files[role] = path.join(tmp, `${role}.nii`);
      await writeNifti(
        v,
        files[role],
        role.endsWith('mask') ? { datatype: 'uint8' } : { datatype: 'float32' },
      );
    }
    return await preprocessCase({ id, label: undefined, files }, prep);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Loads a trained MRN for prediction: `dir` is a run folder (with `model.json`, the ensemble of fold
 * models) or one checkpoint folder (`.../best`).
 *
 * @throws MrnError `E_FILE_NOT_FOUND` / `E_CHECKPOINT` for a missing or foreign folder, and
 *   `E_CHECKPOINT` when the given backbone is not the one the model was trained on.
 *
 * @example
 * ```ts
 * const mrn = await loadMrn('runs/cv5');
 * const p = await mrn.predictCase('data/RJPD_201');   // { probPd: 0.83, pred: 1, sliceAttention, ... }
 * mrn.dispose();
 * ```
 */
export async function loadMrn(dir: string, options: LoadMrnOptions = {}): Promise<MrnPredictor> {
  if (!fs.existsSync(dir)) throw new MrnError('E_FILE_NOT_FOUND', 'model folder not found', { file: dir });
  const { members, backbone: recorded, preprocessing, root } = resolveMembers(dir);
  const resolved = await loadRecordedBackbone(recorded, root, options.backbone);
  let models: MultiRoiNet[];
  try {
    models = await loadMembers(members, recorded);
  } catch (error) {
    resolved.dispose();
    throw error;
  }
  const encoder = new SliceEncoder({ name: 'predict_slice_encoder', backbone: resolved.backbone });
  if (encoder.backbone.embedDim !== models[0]!.config.backboneDim) {
    models.forEach((m) => m.dispose());
    resolved.dispose();
    throw new MrnError(
      'E_CHECKPOINT',
      `backbone width ${encoder.backbone.embedDim} does not match the model's ${models[0]!.config.backboneDim}`,
    );
  }
  const ensemble: Ensemble = {
    models,
    encoder,
    prep: preprocessing as PreprocessOptions & { variants?: number },
    roiIds: models[0]!.roiIds,
  };
  return {
    members: models.length,
    backbone: recorded,
    preprocessing: ensemble.prep,
    roiIds: ensemble.roiIds,
    predictCase: (input, opts = {}) => predictWithEnsemble(ensemble, input, opts),
    dispose: () => {
      models.forEach((m) => m.dispose());
      resolved.dispose();
    },
  };
}

/** Loads each member checkpoint's model, refusing members trained on another backbone. */
async function loadMembers(members: readonly string[], recorded: CheckpointBackbone): Promise<MultiRoiNet[]> {
  const models: MultiRoiNet[] = [];
  try {
    for (const m of members) {
      const meta = readCheckpointMeta(m);
      if (meta.backbone.sha256 !== recorded.sha256) {
        throw new MrnError('E_CHECKPOINT', 'ensemble members were trained on different backbones', {
          file: m,
        });
      }
      models.push(await MultiRoiNet.load(path.join(m, 'model')));
    }
  } catch (error) {
    models.forEach((m) => m.dispose());
    throw error;
  }
  return models;
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
 * Predicts one case with every member: preprocess, encode each ROI's slices with the backbone, run
 * the members and average their PD probabilities and attention weights; with `explain`, also the
 * members' mean aux segmentation at slice resolution.
 */
async function predictWithEnsemble(
  ensemble: Ensemble,
  input: CaseInput,
  opts: { explain?: boolean },
): Promise<MrnCasePrediction> {
  const { models, roiIds, prep } = ensemble;
  const pre = await casePreprocessed(input, prep);
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
