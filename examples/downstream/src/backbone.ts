/**
 * The lab's own slice backbone: patch embedding -> patch tokens, mean of the tokens -> CLS token; a
 * tfjs `LayersModel` with outputs `[cls [M, E], patch [M, N, E]]`, the order mrn's `toSliceBackbone`
 * expects. Saved and loaded with mrn's `fileSystemIO`; handed to mrn through `customBackbone`, which
 * wraps it with `toSliceBackbone` and fingerprints its weights for the checkpoints.
 */

import * as tf from '@tensorflow/tfjs';
import { customBackbone, fileSystemIO, type ResolvedBackbone } from 'mrn';
import { PatchEmbedding } from './patch-embedding.js';

/** The name the lab's backbone is recorded under in mrn checkpoints. */
export const LAB_BACKBONE_NAME = 'lab-patch-embed-v1';
/** Patch size of the lab's backbone. */
export const LAB_PATCH_SIZE = 7;

/** A new (untrained, seeded) lab backbone model for slices of any size divisible by the patch size. */
export function buildLabBackbone(embedDim = 24, seed = 0): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  const patch = new PatchEmbedding({
    patchSize: LAB_PATCH_SIZE,
    embedDim,
    seed,
    name: 'lab_patch_embedding',
  }).apply(input) as tf.SymbolicTensor;
  const cls = tf.layers.globalAveragePooling1d({ name: 'lab_cls' }).apply(patch) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [cls, patch], name: 'lab_backbone' });
}

/** Saves the backbone model to `dir` (`model.json` + `weights.bin`). */
export async function saveLabBackbone(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(fileSystemIO(dir));
}

/** Loads a backbone saved by {@link saveLabBackbone} and wraps it for mrn. */
export async function loadLabBackbone(dir: string): Promise<ResolvedBackbone> {
  const model = await tf.loadLayersModel(fileSystemIO(dir));
  return customBackbone(model, { name: LAB_BACKBONE_NAME, patchSize: LAB_PATCH_SIZE, path: dir });
}
