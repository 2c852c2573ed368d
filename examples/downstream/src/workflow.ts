/**
 * The lab's workflow on top of mrn: load cases with the lab's ROIs, save and reload the lab's
 * backbone, cross-validate MRN on it, and predict with the trained run.
 */

import path from 'node:path';
import { trainMrn, loadMrn, loadPdcadCases, type MrnCasePrediction, type CrossValidationReport } from 'mrn';
import { buildLabBackbone, loadLabBackbone, saveLabBackbone } from './backbone.js';
import { LAB_ROIS } from './thalamus-roi.js';

/** Settings of {@link trainLabModel}; the defaults keep a run to seconds on two cores. */
export interface LabTrainOptions {
  /** PDCAD-style case folders. */
  dataDir: string;
  /** `case,label` CSV. */
  labelsCsv: string;
  /** Where the backbone (`backbone/`) and the run (`run/`) go. */
  outDir: string;
  /** Cases to leave out of training (e.g. to predict them later). */
  holdOut?: readonly string[];
  /** Cross-validation folds. Default 2. */
  folds?: number;
  /** Epochs per fold. Default 3. */
  epochs?: number;
  /** Slice size S (a multiple of the backbone's patch size 7). Default 28. */
  size?: number;
  /** Seed of everything. Default 1. */
  seed?: number;
}

/** What {@link trainLabModel} made. */
export interface LabTrainResult {
  runDir: string;
  backboneDir: string;
  trainedOn: string[];
  report: CrossValidationReport;
}

/** Trains MRN with the lab's ROIs and backbone; the run folder is what {@link predictWithLabModel} reads. */
export async function trainLabModel(o: LabTrainOptions): Promise<LabTrainResult> {
  const seed = o.seed ?? 1;
  const cohort = await loadPdcadCases(o.dataDir, { labels: o.labelsCsv, rois: LAB_ROIS });
  const cases = cohort.cases.filter((c) => !(o.holdOut ?? []).includes(c.id));
  const backboneDir = path.join(o.outDir, 'backbone');
  const runDir = path.join(o.outDir, 'run');
  const fresh = buildLabBackbone(24, seed);
  await saveLabBackbone(fresh, backboneDir);
  fresh.dispose();
  // Train on the reloaded copy: the same object a later process will load.
  const backbone = await loadLabBackbone(backboneDir);
  try {
    const run = await trainMrn(
      cases,
      o.folds ?? 2,
      {
        preprocessing: { size: o.size ?? 28, rois: LAB_ROIS },
        variants: 1,
        valFraction: 0,
        model: { preset: 'mrn-tiny', projectionDim: 16 },
        train: { epochs: o.epochs ?? 3, batchSize: 4, learningRate: 2e-3, seed },
        bootstrap: { iterations: 200, seed },
      },
      { outDir: runDir, backbone, progress: false },
    );
    run.models.forEach((m) => m.dispose());
    return { runDir, backboneDir, trainedOn: cases.map((c) => c.id), report: run.report! };
  } finally {
    backbone.dispose();
  }
}

/** Loads the lab's backbone and the trained run, predicts one case folder, and frees everything. */
export async function predictWithLabModel(
  runDir: string,
  backboneDir: string,
  caseDir: string,
): Promise<MrnCasePrediction> {
  const backbone = await loadLabBackbone(backboneDir);
  try {
    const mrn = await loadMrn(runDir, { backbone });
    try {
      return await mrn.predictCase(caseDir);
    } finally {
      mrn.dispose();
    }
  } finally {
    backbone.dispose();
  }
}
