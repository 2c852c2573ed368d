/**
 * A disposed mrn layer refuses to run with an MrnError naming it, through tfjs's public `apply` (mrn
 * no longer writes tfjs's private reference count to get tfjs's own "already disposed" check).
 */

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuxSegHead, isMrnError, selectBackend } from '../../src/index.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('MrnLayer.dispose', () => {
  it('frees every weight once; apply and a second dispose then throw E_INVALID_ARGUMENT naming the layer', () => {
    const head = new AuxSegHead({ name: 'seg_after_dispose', numClasses: 3, hiddenDim: 4, upsample: 2 });
    const x = tf.zeros([1, 1, 4, 6]);
    tf.dispose(head.apply(x) as tf.Tensor[]);
    const before = tf.memory().numTensors;
    const weights = head.weights.length;
    expect(head.dispose()).toEqual({ refCountAfterDispose: 0, numDisposedVariables: weights });
    expect(tf.memory().numTensors).toBe(before - weights);
    for (const use of [() => head.apply(x), () => head.dispose()]) {
      let error: unknown;
      try {
        use();
      } catch (e) {
        error = e;
      }
      expect(isMrnError(error, 'E_INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toMatch(/AuxSegHead 'seg_after_dispose' is (already )?disposed/);
    }
    expect(tf.memory().numTensors).toBe(before - weights);
    x.dispose();
  });

  it('disposes a layer that was never built or used', () => {
    const head = new AuxSegHead({ numClasses: 3, hiddenDim: 4, upsample: 2 });
    expect(head.dispose()).toEqual({ refCountAfterDispose: 0, numDisposedVariables: 0 });
  });
});
