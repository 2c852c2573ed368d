/**
 * mrn: the MRN method (multi-ROI network) for Parkinson's disease diagnosis from QSM and
 * neuromelanin MRI, in TensorFlow.js. This file only re-exports; each concept lives in its own module.
 *
 * @packageDocumentation
 * @module mrn
 */

// Basics: version, errors, seeded randomness, backend selection
export * from './version.js';
export * from './errors.js';
export * from './rng.js';
export * from './backend.js';
// WebGPU kernel fixes (selectBackend({ backend: 'webgpu' }) applies them) and bytes from File/fetch
export * from './webgpu/optimize.js';
export * from './webgpu/add-n.js';
export * from './browser/read-bytes.js';
export * from './browser/load-model.js';

// Volumes and medical image I/O
export * from './preprocess/volume.js';
export * from './io/nifti-reader.js';
export * from './io/nifti-writer.js';
export * from './preprocess/orientation.js';
export * from './preprocess/resample.js';
export * from './preprocess/intensity.js';
export * from './io/nifti-header.js';
export { applyAffine, identityAffine, invertAffine, multiplyAffines } from './preprocess/affine.js';
export * from './io/safetensors.js';

// Data: PDCAD cases, ROI definitions, cropping, slices, augmentation, cache, folds
export * from './pdcad/folds.js';
export * from './preprocess/nucleus-labels.js';
export * from './preprocess/roi-definitions.js';
export * from './preprocess/roi-crop.js';
export * from './preprocess/roi-slices.js';
export * from './preprocess/roi-normalize.js';
export * from './pdcad/pdcad-case.js';
export * from './pdcad/labels-csv.js';
export * from './pdcad/load-cases.js';
export * from './pdcad/preprocess-case.js';
export * from './pdcad/problems.js';
export * from './preprocess/augment/index.js';
export * from './pdcad/roi-cache.js';

// The classical baseline (the simulator is the subpath `mrn/synth`)
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
export { decodeSavedVit, type SavedVitManifest } from './layers/vit/saved-vit.js';
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
  SwiGluBlock,
  AttentionBlock,
  LayerScaleBlock,
  TransformerBlock,
  type TransformerBlockOptions,
  type PooledTokens,
  AttentionPoolBlock,
} from './layers/blocks.js';
export * from './layers/weight-names.js';
export * from './layers/slice-encoder.js';
export * from './layers/aux-seg-head.js';
export * from './layers/roi-branch.js';
export * from './layers/patient-fusion-head.js';
export * from './layers/multi-roi-net.js';
export * from './layers/mrn-presets.js';
export * from './train/feature-cache.js';
export * from './io/float16.js';
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
export { earlyBackwardRelease, setEarlyBackwardRelease } from './train/backward-memory.js';
export * from './train/grad-accumulation.js';
export * from './train/grad-cache.js';

// Training, evaluation and prediction (plots are the subpath `mrn/plots`)
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
  type CachedRoiEntry,
  type CachedRoiMeta,
} from './train/feature-extraction.js';
export {
  CaseFeatureStore,
  featureFingerprint,
  caseInputsHash,
  type FeatureSettings,
} from './train/case-feature-store.js';
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
export { defaultParallelFolds } from './train/fold-workers.js';
export * from './train/enough-cases.js';
export * from './predict/load-mrn.js';
export * from './predict/mrn-ensemble.js';
export * from './predict/load-mrn-files.js';
export * from './predict/explanation-input.js';
