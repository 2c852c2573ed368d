/**
 * mrn: the MRN method (multi-ROI network) for Parkinson's disease diagnosis from QSM and
 * neuromelanin MRI, in TensorFlow.js. This file only re-exports; each concept lives in its own module.
 *
 * @packageDocumentation
 */

// Basics: version, errors, seeded randomness, backend selection
export * from './version.js';
export * from './errors.js';
export * from './rng.js';
export * from './backend.js';

// Volumes and medical image I/O
export * from './data/volume.js';
export * from './data/nifti.js';
export * from './data/orient.js';
export * from './data/resample.js';
export * from './data/intensity.js';
export * from './data/nifti-header.js';
export { applyAffine, identityAffine, invertAffine, multiplyAffines } from './data/affine.js';
export * from './data/safetensors.js';

// Data: PDCAD cases, ROI definitions, cropping, slices, augmentation, cache, folds
export * from './data/folds.js';
export * from './data/rois.js';
export * from './data/roi.js';
export * from './data/slices.js';
export * from './data/normalize-roi.js';
export * from './data/pdcad.js';
export * from './data/pdcad-problems.js';
export * from './data/augment/index.js';
export * from './data/roi-cache.js';

// Synthetic cohort and the classical baseline
export {
  synthGrid,
  sampleAnatomy,
  gridVoxelToWorld,
  placeAnatomy,
  CHALLENGE_INPLANE_MM,
  CHALLENGE_SLICE_MM,
  CHALLENGE_SHAPE,
  QSM_NUCLEUS_NAMES,
  type NucleusName,
  MEAN_NUCLEUS_VOLUMES_CM3,
  type SynthGrid,
  type SynthFov,
  type NucleusPlacement,
  type SubjectAnatomy,
  type AnatomyVariation,
  DEFAULT_ANATOMY_VARIATION,
  type PlacedShape,
  type PlacedAnatomy,
} from './data/synth/anatomy.js';
export * from './data/synth/templates.js';
export * from './data/synth/disease.js';
export * from './data/synth/contrast.js';
export * from './data/synth/cohort.js';
export * from './baselines/roi-features.js';
export * from './baselines/logistic-regression.js';
export * from './baselines/cross-validate.js';
export * from './baselines/load-baseline-samples.js';

// Layers: DINOv2, slice encoder, RES branch, fusion head, MultiRoiNet
export * from './layers/types.js';
export {
  cubicAntialiasTaps,
  resizeBicubic,
  type AxisTaps,
  type BicubicResize,
  interpolatePositionEmbedding,
  type PositionInterpolation,
  isHfDinov2Config,
  vitConfigFromHf,
  validateVitConfig,
  ffnHiddenSize,
  vitParameterCount,
  assertVitFitsBackend,
  type VitConfig,
  type VitPresetName,
  VIT_PRESETS,
  type HfDinov2Config,
  WASM_HEAP_RESERVE_BYTES,
  vitWeightShapes,
  IMAGENET_NORMALIZATION,
  type TrainableBlocks,
  type VisionTransformerArgs,
  type VitFeatures,
  type VitIntermediate,
  VisionTransformer,
  loadDinov2,
  type Dinov2WeightTensor,
  type Dinov2Source,
  type LoadDinov2Options,
  type OrtModuleLike,
  type OnnxVitEncoderOptions,
  type OnnxVitFeatures,
  OnnxVitEncoder,
} from './layers/vit/index.js';
export {
  type MrnLayerArgs,
  type WeightInit,
  type ParamFactory,
  type NamedWeight,
  MrnLayer,
} from './layers/mrn-layer.js';
export {
  gelu,
  LAYER_NORM_EPS,
  DenseBlock,
  LayerNormBlock,
  layerNorm,
  setFastBlockGradients,
  MlpBlock,
  TransformerBlock,
  type PooledTokens,
  AttentionPoolBlock,
} from './layers/blocks.js';
export * from './layers/slice-encoder.js';
export * from './layers/aux-seg-head.js';
export * from './layers/roi-branch.js';
export * from './layers/patient-fusion-head.js';
export * from './layers/multi-roi-net.js';
export * from './layers/feature-cache.js';
export * from './layers/float16.js';
export { fileSystemIO, type FileSystemIOOptions } from './io/file-system-io.js';
export * from './io/model-safetensors.js';

// Losses
export * from './losses/l2-normalize.js';
export * from './losses/supcon.js';
export * from './losses/multi-roi-supcon.js';
export * from './losses/cross-entropy.js';
export * from './losses/block-targets.js';
export * from './losses/dice.js';
export * from './losses/objective.js';

// Fast wasm backend
export * from './wasm/optimize.js';
export * from './wasm/batch-matmul.js';
export * from './wasm/backward-kernels.js';
export * from './wasm/sum.js';
export * from './wasm/identity.js';
export {
  wasmThreadsInUse,
  THREADED_WASM_BACKEND_VERSION,
  MAX_WASM_THREADS,
  type WasmThreadsPlan,
  type WasmThreadsReport,
  type WasmBackendPackage,
} from './wasm/threads.js';
export * from './wasm/heap.js';
export * from './train/grad-accumulation.js';
export * from './train/grad-cache.js';

// Training, evaluation, prediction and plots
export * from './train/metrics.js';
export * from './train/aux-dice.js';
export * from './train/schedule.js';
export * from './train/balanced-sampler.js';
export * from './train/early-stopping.js';
export * from './train/progress.js';
export * from './train/epoch-log.js';
export {
  writeCheckpoint,
  readCheckpointMeta,
  restoreOptimizerState,
  verifyCheckpoint,
  recoverCheckpoint,
  CHECKPOINT_FORMAT_VERSION,
  CHECKPOINT_CHECKSUMS_FILE,
  type CheckpointBackbone,
  type CheckpointMeta,
  type CheckpointContents,
} from './train/checkpoint.js';
export * from './train/run-lock.js';
export {
  writeFileAtomic,
  setFileLayer,
  nodeFileLayer,
  type FileLayer,
  type WriteFileOptions,
} from './io/atomic-write.js';
export { linePanel, svgDocument, type LinePanelOptions, type Series } from './plots/svg.js';
export { encodePngRgb, pngDataUri } from './plots/png.js';
export * from './plots/training-curves.js';
export * from './plots/roc-plot.js';
export * from './plots/case-explanation.js';
export * from './train/train-step.js';
export * from './train/feature-batch.js';
export * from './train/evaluate.js';
export * from './train/trainer.js';
export { writePredictionCsv, type CasePredictionRow } from './predict/prediction-csv.js';
export {
  extractFeatures,
  CachedFeatureSource,
  type ExtractFeaturesOptions,
  type FailedCase,
  type ExtractFeaturesResult,
  type SegBlockTargets,
} from './train/feature-extraction.js';
export * from './train/backbone.js';
export { customBackbone, weightsFingerprint, type CustomBackboneOptions } from './train/custom-backbone.js';
export {
  predictEnsembleFromFeatures,
  crossValidateOnFeatures,
  type CrossValidationConfig,
  type FoldResult,
  type CrossValidationReport,
  type CrossValidationIO,
} from './train/cross-validate.js';
export * from './train/run.js';
export * from './train/enough-cases.js';
export * from './predict/load-mrn.js';
