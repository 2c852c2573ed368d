/**
 * The ViT a run saves as its random default backbone (`backbone/backbone.json` + `backbone.bin`, see
 * `saveVitWeights`), decoded from bytes: Node reads the two files, a browser fetches or drops them.
 */

import * as tf from '@tensorflow/tfjs';
import { VisionTransformer } from './vision-transformer.js';

/** The contents of a saved backbone's `backbone.json`. */
export interface SavedVitManifest {
  /** Preset name, when known. */
  preset?: string;
  /** The ViT's configuration. */
  config: VisionTransformer['vitConfig'];
  /** The weights' layout in `backbone.bin` (tfjs weight specs). */
  specs: tf.io.WeightsManifestEntry[];
}

/**
 * Builds the ViT of a saved backbone from its manifest and the bytes of `backbone.bin`.
 *
 * @example
 * ```ts
 * const vit = decodeSavedVit(JSON.parse(jsonText), await readBytes('run/backbone/backbone.bin'));
 * ```
 */
export function decodeSavedVit(manifest: SavedVitManifest, weights: Uint8Array): VisionTransformer {
  const vit = new VisionTransformer({ ...manifest.config, weightInit: 'zeros', name: 'saved_vit' });
  vit.ensureBuilt();
  const map = tf.io.decodeWeights(
    weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    manifest.specs,
  );
  try {
    for (const spec of manifest.specs)
      vit.assignWeight(spec.name, map[spec.name]!.dataSync() as Float32Array);
  } finally {
    tf.dispose(Object.values(map));
  }
  return vit;
}
