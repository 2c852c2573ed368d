import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { PatientFusionHead } from '../../src/layers/patient-fusion-head.js';
import { expectMrnError } from '../helpers/errors.js';
import { maxDiff, random, rebuild } from './helpers/layer-config.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('PatientFusionHead', () => {
  it.each(['transformer', 'concat-mlp'] as const)(
    '%s: shapes, attention, config round trip',
    async (fusion) => {
      const head = new PatientFusionHead({
        numRois: 3,
        numClasses: 4,
        fusion,
        heads: 2,
        projectionDim: 5,
        seed: 3,
      });
      const tokens = random([6, 3, 8], 1);
      const out = head.apply(tokens) as tf.Tensor[];
      const shapes = [
        [6, 4],
        [6, 8],
        [6, 3, 5],
      ];
      if (fusion === 'transformer') shapes.push([6, 3]);
      expect(out.map((t) => t.shape)).toEqual(shapes);
      expect(head.computeOutputShape([6, 3, 8])).toEqual(shapes);
      if (fusion === 'transformer') {
        for (const row of (await out[3]!.array()) as number[][])
          expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      }
      const copy = rebuild(head);
      const again = copy.apply(tokens) as tf.Tensor[];
      for (let i = 0; i < out.length; i++) expect(await maxDiff(out[i]!, again[i]!)).toBe(0);
      // Each ROI has its own projection head: permuting ROI tokens does not permute projections.
      const swapped = tf.concat(
        [
          tf.slice(tokens, [0, 1, 0], [-1, 1, -1]),
          tf.slice(tokens, [0, 0, 0], [-1, 1, -1]),
          tf.slice(tokens, [0, 2, 0], [-1, 1, -1]),
        ],
        1,
      );
      const outSwapped = head.apply(swapped) as tf.Tensor[];
      const p0 = tf.slice(out[2]!, [0, 0, 0], [-1, 1, -1]);
      const q1 = tf.slice(outSwapped[2]!, [0, 1, 0], [-1, 1, -1]);
      expect(await maxDiff(p0, q1)).toBeGreaterThan(1e-4);
      const wrong = random([6, 2, 8], 1);
      expectMrnError(
        () => head.apply(wrong),
        'E_INVALID_ARGUMENT',
        /ROI tokens must have shape \[\?, 3, 8\], got \[6, 2, 8\]/,
      );
      tf.dispose([tokens, ...out, ...again, swapped, ...outSwapped, p0, q1, wrong]);
      head.dispose();
      copy.dispose();
    },
  );

  it('rejects bad configuration', () => {
    expectMrnError(
      () => new PatientFusionHead({ numRois: 0 }),
      'E_INVALID_ARGUMENT',
      /numRois must be a positive integer/,
    );
    expectMrnError(
      () => new PatientFusionHead({ numRois: 2, fusion: 'mean' as 'transformer' }),
      'E_INVALID_ARGUMENT',
      /fusion must be 'transformer' or 'concat-mlp'/,
    );
  });
});
