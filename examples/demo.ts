/**
 * `npm run demo`: for now, selects the best backend here and computes a tensor on it. The training
 * issue replaces this with the end-to-end demo (synthetic cohort, cross-validated MRN, baseline).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/index.js';

const report = await selectBackend({ log: (l) => console.log(l) });
console.log(JSON.stringify(report, null, 2));
const x = tf.randomNormal([256, 256], 0, 1, 'float32', 42);
const y = tf.matMul(x, x, false, true);
const trace = tf.tidy(() => y.mul(tf.eye(256)).sum());
console.log(`trace of x·xᵀ on ${tf.getBackend()}: ${(await trace.data())[0]!.toFixed(3)}`);
tf.dispose([x, y, trace]);
