import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, isMrnError, multiRoiSupConLoss, selectBackend, supConLoss } from '../../src/index.js';
import { BACKENDS, valueAndGrad } from './helpers.js';
import { thrownBy } from '../helpers/errors.js';
import { maxAbsDiff } from '../helpers/arrays.js';

const B = 8;
const R = 3;
const P = 6;
const labels = [0, 1, 1, 0, 1, 0, 0, 1];

function randomArray(seed: number, n: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => rng.normal());
}

/** ROI r's projections as a fresh [B, 1, P] tensor built from plain numbers (independent of slicing). */
function roiView(values: number[], r: number): tf.Tensor3D {
  const out: number[] = [];
  for (let i = 0; i < B; i++) out.push(...values.slice((i * R + r) * P, (i * R + r + 1) * P));
  return tf.tensor3d(out, [B, 1, P]);
}

describe.each(BACKENDS)('multiRoiSupConLoss on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend({ backend });
  });

  const values = randomArray(81, B * R * P);

  it("'joint' equals supConLoss with the R ROIs as views (value and gradient)", async () => {
    const x = tf.tensor3d(values, [B, R, P]);
    for (const contrastMode of ['all', 'one'] as const) {
      const joint = await valueAndGrad(
        (f) =>
          multiRoiSupConLoss(f as tf.Tensor3D, labels, { mode: 'joint', contrastMode, temperature: 0.2 }),
        x,
      );
      const direct = await valueAndGrad((f) => supConLoss(f, labels, { contrastMode, temperature: 0.2 }), x);
      expect(joint.value).toBe(direct.value);
      expect(maxAbsDiff(joint.grad, direct.grad)).toBe(0);
    }
    x.dispose();
  });

  it("'per-roi' (default) equals the mean of R single-view losses, and its gradient is theirs side by side", async () => {
    const x = tf.tensor3d(values, [B, R, P]);
    const perRoi = await valueAndGrad(
      (f) => multiRoiSupConLoss(f as tf.Tensor3D, labels, { temperature: 0.1 }),
      x,
    );
    let mean = 0;
    const expectedGrad = new Float32Array(B * R * P);
    for (let r = 0; r < R; r++) {
      const view = roiView(values, r);
      const single = await valueAndGrad((f) => supConLoss(f, labels, { temperature: 0.1 }), view);
      view.dispose();
      mean += single.value / R;
      for (let i = 0; i < B; i++)
        for (let k = 0; k < P; k++) expectedGrad[(i * R + r) * P + k] = single.grad[i * P + k] / R;
    }
    expect(Math.abs(perRoi.value - mean)).toBeLessThan(1e-6 * mean);
    expect(maxAbsDiff(perRoi.grad, expectedGrad)).toBeLessThan(1e-6);
    x.dispose();
  });

  it("'per-roi' with weights is the weighted mean; a zero-weight ROI gets no gradient", async () => {
    const x = tf.tensor3d(values, [B, R, P]);
    const weights = [2, 0, 0.5];
    const weighted = await valueAndGrad((f) => multiRoiSupConLoss(f as tf.Tensor3D, labels, { weights }), x);
    let expected = 0;
    for (let r = 0; r < R; r++) {
      const view = roiView(values, r);
      const single = supConLoss(view, labels);
      expected += (weights[r] * single.dataSync()[0]) / 2.5;
      tf.dispose([view, single]);
    }
    expect(Math.abs(weighted.value - expected)).toBeLessThan(1e-6 * expected);
    for (let i = 0; i < B; i++)
      for (let k = 0; k < P; k++) expect(weighted.grad[(i * R + 1) * P + k]).toBe(0);
    x.dispose();
  });

  it('includes the patient embedding: one more weighted term (per-roi) or one more view (joint)', () => {
    const x = tf.tensor3d(values, [B, R, P]);
    const patient = tf.tensor2d(randomArray(82, B * P), [B, P]);
    const wide = tf.tensor2d(randomArray(83, B * 10), [B, 10]);
    const perRoi = multiRoiSupConLoss(x, labels, { patientEmbedding: wide, patientWeight: 3 });
    const plain = multiRoiSupConLoss(x, labels);
    const patientOnly = supConLoss(wide.reshape([B, 1, 10]), labels);
    const expected = (plain.dataSync()[0] * R + 3 * patientOnly.dataSync()[0]) / (R + 3);
    expect(Math.abs(perRoi.dataSync()[0] - expected)).toBeLessThan(1e-6 * expected);
    const joint = multiRoiSupConLoss(x, labels, { mode: 'joint', patientEmbedding: patient });
    const views = tf.concat([x, patient.reshape([B, 1, P])], 1);
    const direct = supConLoss(views, labels);
    expect(joint.dataSync()[0]).toBe(direct.dataSync()[0]);
    tf.dispose([x, patient, wide, perRoi, plain, patientOnly, joint, views, direct]);
  });

  it('the two modes differ: joint also pulls the ROIs of one patient together', () => {
    // Every patient's ROIs point in different directions, same-class patients agree ROI by ROI:
    // per-roi sees perfect clusters, joint sees a patient's own ROIs as far-away positives.
    const proto = [
      [1, 0, 0, 0, 0, 0],
      [0, 1, 0, 0, 0, 0],
      [0, 0, 1, 0, 0, 0],
    ];
    const other = [
      [0, 0, 0, 1, 0, 0],
      [0, 0, 0, 0, 1, 0],
      [0, 0, 0, 0, 0, 1],
    ];
    const feats = labels.flatMap((l) => (l === 0 ? proto : other).flat());
    const x = tf.tensor3d(feats, [B, R, P]);
    const perRoi = multiRoiSupConLoss(x, labels, { temperature: 0.1 });
    const joint = multiRoiSupConLoss(x, labels, { mode: 'joint', temperature: 0.1 });
    expect(perRoi.dataSync()[0]).toBeLessThan(joint.dataSync()[0] / 2);
    tf.dispose([x, perRoi, joint]);
  });

  it('leaks no tensor under tf.variableGrads in either mode', () => {
    const before = tf.memory().numTensors;
    const init = tf.tensor3d(values, [B, R, P]);
    const w = tf.variable(init);
    init.dispose();
    for (const mode of ['per-roi', 'joint'] as const) {
      const { value, grads } = tf.variableGrads(
        () =>
          multiRoiSupConLoss(
            w,
            tf.tidy(() => tf.tensor1d(labels, 'int32')),
            { mode },
          ),
        [w],
      );
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
    }
    w.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with E_INVALID_ARGUMENT', () => {
    const x = tf.zeros([B, R, P]) as tf.Tensor3D;
    const flat = tf.zeros([B, P]);
    const narrow = tf.zeros([B, P - 1]) as tf.Tensor2D;
    const shortPatient = tf.zeros([B - 1, P]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const cases: [string, () => unknown][] = [
      ['rank 2', () => multiRoiSupConLoss(flat as unknown as tf.Tensor3D, labels)],
      ['unknown mode', () => multiRoiSupConLoss(x, labels, { mode: 'mixed' as 'joint' })],
      ['weights in joint', () => multiRoiSupConLoss(x, labels, { mode: 'joint', weights: [1, 1, 1] })],
      ['contrastMode in per-roi', () => multiRoiSupConLoss(x, labels, { contrastMode: 'one' })],
      ['weight count', () => multiRoiSupConLoss(x, labels, { weights: [1, 1] })],
      ['negative weight', () => multiRoiSupConLoss(x, labels, { weights: [1, -1, 1] })],
      ['zero weights', () => multiRoiSupConLoss(x, labels, { weights: [0, 0, 0] })],
      ['joint width', () => multiRoiSupConLoss(x, labels, { mode: 'joint', patientEmbedding: narrow })],
      ['patient batch', () => multiRoiSupConLoss(x, labels, { patientEmbedding: shortPatient })],
      ['label count', () => multiRoiSupConLoss(x, [0, 1])],
      ['temperature', () => multiRoiSupConLoss(x, labels, { temperature: -0.1 })],
    ];
    for (const [name, f] of cases) {
      const error = thrownBy(f, name);
      expect(isMrnError(error, 'E_INVALID_ARGUMENT'), name).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, flat, narrow, shortPatient]);
  });
});
