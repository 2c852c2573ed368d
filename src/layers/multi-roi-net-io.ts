/**
 * Saving and loading a {@link MultiRoiNet}: tfjs model artifacts (`model.json` topology with the
 * resolved configuration, plus the weights by path) through any tfjs IO handler, by default
 * {@link fileSystemIO} on a directory. Weight names of earlier mrn versions are mapped to today's
 * (see `weight-names.ts`), so every checkpoint mrn wrote keeps loading.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import { fileSystemIO } from '../io/file-system-io.js';
import { MRN_VERSION } from '../version.js';
import type { MultiRoiNetConfig } from './multi-roi-net-config.js';
import type { MultiRoiNet, MultiRoiNetOptions } from './multi-roi-net.js';

/** The `format` field of a MultiRoiNet `model.json`. */
export const MULTI_ROI_NET_FORMAT = 'mrn-multi-roi-net';

/** The topology a MultiRoiNet `model.json` holds. */
interface MultiRoiNetTopology {
  className?: string;
  config?: MultiRoiNetConfig;
  backbone?: { embedDim: number; patchSize: number; weightsSaved: boolean } | null;
}

/** The weights a checkpoint holds: the heads', and the backbone's when it is fine-tuned. */
function savedWeights(model: MultiRoiNet): ReturnType<MultiRoiNet['namedWeights']> {
  return model.namedWeights().filter((w) => !w.path.startsWith('backbone.') || model.config.trainBackbone);
}

/** Model artifacts (tfjs `model.json` topology + weights) of `model`, for any tfjs IO handler. */
export async function multiRoiNetArtifacts(model: MultiRoiNet): Promise<tf.io.ModelArtifacts> {
  const { data, specs } = await tf.io.encodeWeights(
    savedWeights(model).map((w) => ({ name: w.path, tensor: w.variable.read() })),
  );
  const encoder = model.encoder;
  const topology: MultiRoiNetTopology = {
    className: 'MultiRoiNet',
    config: model.getConfig(),
    backbone: encoder?.hasBackbone
      ? {
          embedDim: encoder.backbone.embedDim,
          patchSize: encoder.backbone.patchSize,
          weightsSaved: model.config.trainBackbone,
        }
      : null,
  };
  return {
    modelTopology: topology as unknown as tf.io.ModelArtifacts['modelTopology'],
    format: MULTI_ROI_NET_FORMAT,
    generatedBy: `mrn ${MRN_VERSION}`,
    convertedBy: null,
    weightSpecs: specs,
    weightData: data,
  };
}

/** Saves `model` to a directory or tfjs IO handler (see `MultiRoiNet.save`). */
export async function saveMultiRoiNet(
  model: MultiRoiNet,
  target: string | tf.io.IOHandler,
): Promise<tf.io.SaveResult> {
  const handler = typeof target === 'string' ? fileSystemIO(target) : target;
  if (!handler.save) throw new MrnError('E_INVALID_ARGUMENT', 'MultiRoiNet.save: the IO handler cannot save');
  return handler.save(await multiRoiNetArtifacts(model));
}

/**
 * Loads a model saved by `MultiRoiNet.save` (see there); `build` constructs the model from the saved
 * configuration (it is `MultiRoiNet`'s constructor, passed in so this module needs only its type).
 */
export async function loadMultiRoiNet(
  source: string | tf.io.IOHandler,
  options: MultiRoiNetOptions,
  build: (config: MultiRoiNetConfig, options: MultiRoiNetOptions) => MultiRoiNet,
): Promise<MultiRoiNet> {
  const handler = typeof source === 'string' ? fileSystemIO(source) : source;
  if (!handler.load) throw new MrnError('E_INVALID_ARGUMENT', 'MultiRoiNet.load: the IO handler cannot load');
  const file = typeof source === 'string' ? source : undefined;
  const artifacts = await handler.load();
  const topology = artifacts.modelTopology as MultiRoiNetTopology | undefined;
  if (
    artifacts.format !== MULTI_ROI_NET_FORMAT ||
    topology?.className !== 'MultiRoiNet' ||
    !topology.config
  ) {
    throw new MrnError(
      'E_CHECKPOINT',
      `MultiRoiNet.load: not a MultiRoiNet checkpoint (format '${artifacts.format}')`,
      { file },
    );
  }
  if (topology.backbone?.weightsSaved && !options.backbone) {
    throw new MrnError(
      'E_CHECKPOINT',
      'MultiRoiNet.load: the checkpoint holds a fine-tuned backbone; pass that backbone',
      { file },
    );
  }
  // Checkpoints from before segResolution existed trained against full-resolution maps.
  const config: MultiRoiNetConfig = {
    ...topology.config,
    segResolution: topology.config.segResolution ?? 'full',
  };
  let model: MultiRoiNet;
  try {
    model = build(config, options);
  } catch (cause) {
    if (cause instanceof MrnError && cause.code === 'E_CONFIG') {
      throw new MrnError(
        'E_CHECKPOINT',
        `MultiRoiNet.load: the backbone does not match the checkpoint: ${cause.message}`,
        { file, cause },
      );
    }
    throw cause;
  }
  try {
    assignSavedWeights(model, artifacts, file);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/**
 * Assigns a model's weights from artifacts by path (names of earlier versions mapped through
 * `model.canonicalWeightPath`); every weight the model saves must be present with its shape, and
 * nothing else.
 *
 * @throws MrnError `E_CHECKPOINT` listing missing, extra and mis-shaped weights.
 */
export function assignSavedWeights(model: MultiRoiNet, artifacts: tf.io.ModelArtifacts, file?: string): void {
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData;
  const buffer = Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : (data ?? new ArrayBuffer(0));
  const decoded = tf.io.decodeWeights(buffer, specs);
  const tensors: tf.NamedTensorMap = {};
  for (const [name, t] of Object.entries(decoded)) tensors[model.canonicalWeightPath(name)] = t;
  try {
    const expected = savedWeights(model);
    const missing = expected.filter((w) => !tensors[w.path]).map((w) => w.path);
    const wanted = new Set(expected.map((w) => w.path));
    const extra = Object.keys(tensors).filter((name) => !wanted.has(name));
    const misShaped = expected
      .filter(
        (w) => tensors[w.path] && !tf.util.arraysEqual(tensors[w.path]!.shape, w.variable.shape as number[]),
      )
      .map((w) => `${w.path}: saved [${tensors[w.path]!.shape}] vs model [${w.variable.shape}]`);
    if (missing.length || extra.length || misShaped.length) {
      throw new MrnError(
        'E_CHECKPOINT',
        `MultiRoiNet.load: weights do not match the model (missing ${missing.length}, extra ${extra.length}, mis-shaped ${misShaped.length})` +
          `${[...missing.slice(0, 3), ...extra.slice(0, 3), ...misShaped.slice(0, 3)].map((s) => `\n  ${s}`).join('')}`,
        { file, details: { missing, extra, misShaped } },
      );
    }
    for (const w of expected) w.variable.write(tensors[w.path]!);
    // The ViT caches its interpolated position embedding: drop what was computed from the old values.
    (model.encoder?.backbone as { clearPositionCache?: () => void } | undefined)?.clearPositionCache?.();
  } finally {
    tf.dispose(Object.values(decoded));
  }
}
