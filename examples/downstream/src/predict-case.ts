/**
 * Predicts one case with a trained lab run, in a process of its own:
 *
 *   node --import tsx src/predict-case.ts RUN_DIR BACKBONE_DIR CASE_DIR
 *
 * Prints the prediction as one JSON line. The lab's layer is registered by importing this package,
 * which is all tfjs needs to load the saved backbone.
 */

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from 'mrn';
import { predictWithLabModel } from './workflow.js';

const [runDir, backboneDir, caseDir] = process.argv.slice(2);
if (!runDir || !backboneDir || !caseDir) {
  console.error('usage: predict-case RUN_DIR BACKBONE_DIR CASE_DIR');
  process.exit(2);
}
await selectBackend({ backend: 'wasm' });
const before = tf.memory().numTensors;
const p = await predictWithLabModel(runDir, backboneDir, caseDir);
const leaked = tf.memory().numTensors - before;
console.log(JSON.stringify({ ...p, leaked }));
