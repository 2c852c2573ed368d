import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { crossEntropyLoss, isMrnError, selectBackend } from '../../src/index.js';
import { BACKENDS, readJson, valueAndGrad } from './helpers.js';
import { thrownBy } from '../helpers/errors.js';
import { maxAbsDiff } from '../helpers/arrays.js';

interface CeCase {
  name: string;
  logits_shape: [number, number];
  logits: number[];
  labels: number[];
  class_weights: number[] | null;
  label_smoothing: number;
  loss: number;
  grad: number[];
}

const reference = readJson<{ ce: CeCase[] }>('../fixtures/losses/seg-ce-reference.json');

describe.each(BACKENDS)('crossEntropyLoss on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend({ backend });
  });

  it.each(reference.ce.map((c) => [c.name, c] as const))(
    'matches torch F.cross_entropy (weight, label_smoothing): %s',
    async (_name, c) => {
      const before = tf.memory().numTensors;
      const x = tf.tensor2d(c.logits, c.logits_shape);
      const labels = tf.tensor1d(c.labels, 'int32');
      const options = { classWeights: c.class_weights ?? undefined, labelSmoothing: c.label_smoothing };
      const { value, grad } = await valueAndGrad((f) => crossEntropyLoss(f, labels, options), x);
      expect(Math.abs(value - c.loss) / c.loss).toBeLessThan(1e-6);
      expect(maxAbsDiff(grad, c.grad)).toBeLessThan(1e-6);
      const fromArray = crossEntropyLoss(x, c.labels, options);
      expect(fromArray.dataSync()[0]).toBe(value);
      tf.dispose([x, labels, fromArray]);
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('sample weights of 0 remove samples exactly; all-zero sample weights give 0, not NaN', async () => {
    const c = reference.ce[2];
    const [n, k] = c.logits_shape;
    const keep = [1, 0, 1, 1, 0, 1, 1].slice(0, n);
    const kept = keep.flatMap((m, i) => (m ? [i] : []));
    const x = tf.tensor2d(c.logits, [n, k]);
    const labels = tf.tensor1d(c.labels, 'int32');
    const mask = tf.tensor1d(keep);
    const sub = tf.tensor2d(
      kept.flatMap((i) => c.logits.slice(i * k, (i + 1) * k)),
      [kept.length, k],
    );
    const opts = { classWeights: c.class_weights ?? undefined, labelSmoothing: c.label_smoothing };
    const masked = crossEntropyLoss(x, labels, { ...opts, sampleWeights: mask });
    const direct = crossEntropyLoss(
      sub,
      kept.map((i) => c.labels[i]),
      opts,
    );
    expect(masked.dataSync()[0]).toBeCloseTo(direct.dataSync()[0], 6);
    const zeros = tf.zeros([n]);
    const { value, grad } = await valueAndGrad(
      (f) => crossEntropyLoss(f, labels, { ...opts, sampleWeights: zeros }),
      x,
    );
    expect(Math.abs(value)).toBe(0);
    expect(grad.every((g) => g === 0)).toBe(true);
    tf.dispose([x, labels, mask, sub, masked, direct, zeros]);
  });

  it('rejects bad input with E_INVALID_ARGUMENT', () => {
    const x = tf.zeros([4, 3]);
    const floatLabels = tf.tensor1d([0, 1, 2, 0]);
    const before = tf.memory().numTensors;
    const cases: [string, () => unknown][] = [
      ['label count', () => crossEntropyLoss(x, [0, 1, 2])],
      ['float labels', () => crossEntropyLoss(x, floatLabels)],
      ['non-integer labels', () => crossEntropyLoss(x, [0, 1, 1.5, 0])],
      ['label out of range', () => crossEntropyLoss(x, [0, 1, 3, 0])],
      ['negative label', () => crossEntropyLoss(x, [0, -1, 2, 0])],
      ['smoothing 1', () => crossEntropyLoss(x, [0, 1, 2, 0], { labelSmoothing: 1 })],
      ['class weight count', () => crossEntropyLoss(x, [0, 1, 2, 0], { classWeights: [1, 1] })],
      ['negative class weight', () => crossEntropyLoss(x, [0, 1, 2, 0], { classWeights: [1, -1, 1] })],
    ];
    for (const [name, f] of cases) {
      const error = thrownBy(f, name);
      expect(isMrnError(error, 'E_INVALID_ARGUMENT'), name).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, floatLabels]);
  });
});
