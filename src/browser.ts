/**
 * mrn for the browser: the `browser` condition of the package's `exports`, built to one ESM bundle
 * (`dist/browser.js`) that imports no Node built-in. The same names as the Node entry where they make
 * sense; files come in as bytes (`ArrayBuffer`, `File`/`Blob`, `fetch` responses, see
 * {@link readBytes}) instead of paths. Functions that need a file system (reading a case folder,
 * training runs, checkpoints on disk) are not exported here; the few Node-only functions that modules
 * exported here reach (e.g. `fileSystemIO`, reading a NIfTI by path) throw an `E_NODE_ONLY`
 * {@link MrnError} naming themselves. docs/browser.md lists them.
 *
 * @packageDocumentation
 */

// Basics: version, errors, seeded randomness, backend selection (webgpu, wasm, cpu)
export * from './version.js';
export * from './errors.js';
export * from './rng.js';
export * from './browser/select-backend.js';
export * from './browser/read-bytes.js';
export * from './browser/load-model.js';
export * from './webgpu/optimize.js';
export * from './webgpu/add-n.js';

// Volumes and medical image I/O (decode/encode from bytes; readNifti/readSafetensors take bytes here)
export * from './preprocess/volume.js';
export { decodeNifti, readNifti, type DecodeNiftiOptions, type ReadNiftiOptions } from './io/nifti-reader.js';
export { encodeNifti, type NiftiWriteDatatype, type WriteNiftiOptions } from './io/nifti-writer.js';
export * from './preprocess/orientation.js';
export * from './preprocess/resample.js';
export * from './preprocess/intensity.js';
export * from './io/nifti-header.js';
export { applyAffine, identityAffine, invertAffine, multiplyAffines } from './preprocess/affine.js';
export {
  parseSafetensorsHeader,
  decodeSafetensors,
  readSafetensors,
  encodeSafetensors,
  type SafetensorsDtype,
  type SafetensorsData,
  type SafetensorsTensor,
  type SafetensorsEntry,
  type SafetensorsHeader,
  type ReadSafetensorsOptions,
  type SafetensorsWriteTensor,
} from './io/safetensors.js';

// Data: ROI definitions, cropping, slices, normalisation, augmentation, folds
export * from './pdcad/folds.js';
export * from './preprocess/nucleus-labels.js';
export * from './preprocess/roi-definitions.js';
export * from './preprocess/roi-crop.js';
export * from './preprocess/roi-slices.js';
export * from './preprocess/roi-normalize.js';
export * from './preprocess/augment/index.js';
// PDCAD conventions (reading case folders, preprocessCase and the ROI cache need Node; a case's
// volumes in memory are preprocessed by preprocessVolumes)
export { PDCAD_FILE_ROLES, type PdcadFileRole } from './pdcad/pdcad-case.js';
export { parsePdcadLabels, type PdcadLabelProblem } from './pdcad/labels-csv.js';
export {
  preprocessVolumes,
  resolvePreprocessOptions,
  type CaseRoi,
  type CaseVolumesInput,
  type PreprocessedCase,
  type PreprocessOptions,
} from './pdcad/preprocess-case.js';

// The classical baseline (the simulator and the plots are the subpaths `mrn/synth` and `mrn/plots`,
// which have browser builds of their own)
export * from './baselines/roi-features.js';
export * from './baselines/logistic-regression.js';
export * from './baselines/cross-validate.js';

// Layers: DINOv2, slice encoder, RES branch, fusion head, MultiRoiNet
export * from './layers/types.js';
// (Not layers/vit/index.js: it re-exports OnnxVitEncoder, whose onnxruntime-node is native.)
export {
  cubicAntialiasTaps,
  resizeBicubic,
  type AxisTaps,
  type BicubicResize,
} from './layers/vit/bicubic.js';
export { interpolatePositionEmbedding, type PositionInterpolation } from './layers/vit/position-embedding.js';
export * from './layers/vit/vit-config.js';
export * from './layers/vit/vision-transformer.js';
export * from './layers/vit/saved-vit.js';
// From bytes or tensors in memory ({ config, weights }); a path needs Node.
export {
  loadDinov2,
  type Dinov2WeightTensor,
  type Dinov2Source,
  type LoadDinov2Options,
} from './layers/vit/load-dinov2.js';
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
export * from './io/float16.js';
export {
  encodeMultiRoiNetSafetensors,
  loadMultiRoiNetSafetensors,
  MULTI_ROI_NET_SAFETENSORS_FORMAT,
} from './io/model-safetensors.js';

// Losses
export * from './losses/l2-normalize.js';
export * from './losses/supcon.js';
export * from './losses/multi-roi-supcon.js';
export * from './losses/cross-entropy.js';
export * from './losses/block-targets.js';
export * from './losses/dice.js';
export * from './losses/objective.js';

// Training steps, evaluation from features, metrics
export { earlyBackwardRelease, setEarlyBackwardRelease } from './train/backward-memory.js';
export * from './train/grad-accumulation.js';
export * from './train/grad-cache.js';
export * from './train/metrics.js';
export * from './train/aux-dice.js';
export * from './train/schedule.js';
export * from './train/balanced-sampler.js';
export * from './train/early-stopping.js';
export * from './train/train-step.js';
export * from './train/feature-batch.js';
export * from './train/evaluate.js';

// Prediction with a trained run's files (a dropped run folder, URLs) from volumes in memory
export * from './predict/mrn-ensemble.js';
export * from './predict/load-mrn-files.js';
export * from './predict/explanation-input.js';
