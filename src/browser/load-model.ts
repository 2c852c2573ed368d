/**
 * Loading a trained `MultiRoiNet` in a browser: {@link checkpointIO} is a tfjs `IOHandler` over a
 * checkpoint's two files (`model.json` + `weights.bin`, as `mrn train` and `MultiRoiNet.save` write
 * them in `<run>/fold*\/best/model/`) given as `File`s, bytes or URLs, for `MultiRoiNet.load`.
 */

import type * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import { validateWeightSpecs } from '../io/weight-specs.js';
import { type BytesSource, readBytes } from './read-bytes.js';

/** A checkpoint's files, from a folder drop, a file input or URLs. */
export interface CheckpointFiles {
  /** The checkpoint's `model.json` (topology and weight manifest). */
  modelJson: BytesSource;
  /** Its `weights.bin`. */
  weights: BytesSource;
}

/**
 * A tfjs `IOHandler` that loads the checkpoint in `files` (see the module notes).
 *
 * @example
 * ```ts
 * const model = await MultiRoiNet.load(checkpointIO({ modelJson: 'run/fold0/best/model/model.json', weights: 'run/fold0/best/model/weights.bin' }), { backbone });
 * ```
 */
export function checkpointIO(files: CheckpointFiles): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const name = typeof files.modelJson === 'string' ? files.modelJson : 'model.json';
      let json: {
        modelTopology?: unknown;
        weightsManifest?: { weights: tf.io.WeightsManifestEntry[] }[];
        format?: string;
        generatedBy?: string;
        convertedBy?: string | null;
        userDefinedMetadata?: tf.io.ModelArtifacts['userDefinedMetadata'];
      };
      try {
        json = JSON.parse(new TextDecoder().decode(await readBytes(files.modelJson)));
      } catch (cause) {
        if (cause instanceof MrnError) throw cause;
        throw new MrnError('E_CHECKPOINT', `model.json is not valid JSON: ${(cause as Error).message}`, {
          file: name,
          cause,
        });
      }
      const weights = await readBytes(files.weights);
      const weightSpecs = (json.weightsManifest ?? []).flatMap((group) => group.weights);
      validateWeightSpecs(weightSpecs, weights.byteLength, name);
      return {
        modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs,
        weightData: weights.slice().buffer,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy ?? undefined,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}
