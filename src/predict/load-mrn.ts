/**
 * The library-level predictor: `loadMrn(dir)` loads a trained run (the ensemble manifest `model.json`
 * that training writes, or a single checkpoint folder) with its backbone, and predicts cases from
 * their folder or from volumes already in memory. The backbone is checked against the one the model
 * was trained on (sha256 of its weights); a mismatch is refused, never silently used.
 */

import fs from 'node:fs';
import path from 'node:path';
import { type PdcadCase, type PdcadFileRole, PDCAD_FILE_ROLES } from '../pdcad/pdcad-case.js';
import { preprocessCase, type PreprocessOptions } from '../pdcad/preprocess-case.js';
import { MrnError } from '../errors.js';
import { MultiRoiNet } from '../layers/multi-roi-net.js';
import type { ResolvedBackbone } from '../train/backbone.js';
import { type CheckpointBackbone, readCheckpointMeta } from '../train/checkpoint.js';
import type { EnsembleManifest } from '../train/run.js';
import {
  type CaseVolumes,
  createMrnEnsemble,
  type MrnCasePrediction,
  type MrnEnsemble,
} from './mrn-ensemble.js';
import { loadRecordedBackbone } from './recorded-backbone.js';

/** A case to predict: its folder, a case record, or its volumes. */
export type CaseInput = string | Pick<PdcadCase, 'id' | 'files'> | { id?: string; volumes: CaseVolumes };

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

/** Predicts a case given by folder, case record or volumes (see {@link CaseInput}). */
async function predictInput(
  ensemble: MrnEnsemble,
  input: CaseInput,
  opts: { explain?: boolean },
): Promise<MrnCasePrediction> {
  if (typeof input === 'string') {
    const id = path.basename(path.resolve(input));
    const pre = await preprocessCase(
      { id, label: undefined, files: findCaseFiles(input) },
      ensemble.preprocessing,
    );
    return ensemble.predictPreprocessed(pre, opts);
  }
  if ('files' in input) {
    const pre = await preprocessCase(
      { id: input.id, label: undefined, files: input.files },
      ensemble.preprocessing,
    );
    return ensemble.predictPreprocessed(pre, opts);
  }
  return ensemble.predictVolumes(input, opts);
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
  const ensemble = createMrnEnsemble({
    models,
    backbone: resolved.backbone,
    recorded,
    preprocessing: preprocessing as PreprocessOptions & { variants?: number },
    disposeBackbone: () => resolved.dispose(),
  });
  return {
    members: ensemble.members,
    backbone: recorded,
    preprocessing: ensemble.preprocessing,
    roiIds: ensemble.roiIds,
    predictCase: (input, opts = {}) => predictInput(ensemble, input, opts),
    dispose: () => ensemble.dispose(),
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
