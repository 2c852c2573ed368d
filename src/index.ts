/**
 * mrn: the MRN method (multi-ROI network) for Parkinson's disease diagnosis from QSM and
 * neuromelanin MRI, in TensorFlow.js. This file only re-exports; each concept lives in its own module.
 *
 * @packageDocumentation
 */

export * from './version.js';
export * from './errors.js';
export * from './rng.js';
export * from './backend.js';
export * from './data/volume.js';
export * from './layers/types.js';
export * from './data/folds.js';
export * from './data/rois.js';
export * from './data/nifti.js';
export * from './data/orient.js';
export * from './train/metrics.js';
export * from './train/aux-dice.js';
export * from './train/schedule.js';
export * from './train/balanced-sampler.js';
export * from './train/early-stopping.js';
export * from './train/progress.js';
export * from './train/epoch-log.js';
export * from './train/checkpoint.js';
export * from './plots/svg.js';
export * from './plots/png.js';
export * from './plots/training-curves.js';
export * from './plots/roc-plot.js';
export * from './plots/case-explanation.js';
export * from './data/roi.js';
export * from './data/slices.js';
export * from './data/normalize-roi.js';
export * from './losses/l2-normalize.js';
export * from './losses/supcon.js';
export * from './losses/multi-roi-supcon.js';
export * from './losses/cross-entropy.js';
export * from './losses/dice.js';
export * from './losses/objective.js';
export * from './data/resample.js';
export * from './data/intensity.js';
export * from './data/pdcad.js';
export * from './train/train-step.js';
export * from './train/feature-batch.js';
export * from './train/evaluate.js';
export * from './train/trainer.js';
export * from './predict/prediction-csv.js';
export * from './data/augment/index.js';
export * from './data/nifti-header.js';
export { applyAffine, identityAffine, invertAffine, multiplyAffines } from './data/affine.js';
export * from './data/roi-cache.js';
export * from './data/safetensors.js';
export * from './layers/vit/index.js';
export * from './wasm/optimize.js';
export * from './wasm/batch-matmul.js';
export * from './wasm/threads.js';
export * from './wasm/heap.js';
export * from './train/grad-accumulation.js';
export * from './layers/mrn-layer.js';
export * from './layers/blocks.js';
export * from './layers/slice-encoder.js';
export * from './layers/aux-seg-head.js';
export * from './layers/roi-branch.js';
export * from './layers/patient-fusion-head.js';
export * from './layers/multi-roi-net.js';
export * from './layers/feature-cache.js';
export * from './layers/float16.js';
export * from './io/file-system-io.js';
export * from './data/synth/anatomy.js';
export * from './data/synth/templates.js';
export * from './data/synth/disease.js';
export * from './data/synth/contrast.js';
export * from './data/synth/cohort.js';
export * from './baselines/roi-features.js';
export * from './baselines/logistic-regression.js';
export * from './baselines/cross-validate.js';
export * from './baselines/load-baseline-samples.js';
