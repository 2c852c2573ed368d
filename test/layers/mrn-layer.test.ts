/** What MrnLayer gives every mrn layer: seed in getConfig, argument and input checks. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { invalidArgument, MrnError } from '../../src/errors.js';
import { AuxSegHead } from '../../src/layers/aux-seg-head.js';
import { PatientFusionHead } from '../../src/layers/patient-fusion-head.js';
import { RoiBranch } from '../../src/layers/roi-branch.js';
import { SliceEncoder } from '../../src/layers/slice-encoder.js';
import { expectMrnError } from '../helpers/errors.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('MrnLayer', () => {
  it('puts the seed in every layer config', () => {
    const layers = [
      new AuxSegHead({ numClasses: 2, seed: 4 }),
      new RoiBranch({ numSegClasses: 2, seed: 5 }),
      new PatientFusionHead({ numRois: 2, seed: 6 }),
      new SliceEncoder({ seed: 7 }),
    ];
    expect(layers.map((l) => l.getConfig().seed)).toEqual([4, 5, 6, 7]);
    for (const l of layers) l.dispose();
  });

  it('refuses sizes that are not positive integers, naming the layer and the argument', () => {
    expectMrnError(
      () => new RoiBranch({ numSegClasses: 2, heads: 0, name: 'b' }),
      'E_INVALID_ARGUMENT',
      /RoiBranch 'b': heads must be a positive integer, got 0/,
    );
    expectMrnError(
      () => new AuxSegHead({ numClasses: 2, upsample: 1.5 }),
      'E_INVALID_ARGUMENT',
      /upsample must be a positive integer, got 1.5/,
    );
    expectMrnError(
      () => new PatientFusionHead({ numRois: 2, depth: -1 }),
      'E_INVALID_ARGUMENT',
      /depth must be a non-negative integer, got -1/,
    );
    // Zero where zero is allowed: no transformer blocks.
    new PatientFusionHead({ numRois: 2, depth: 0 }).dispose();
  });

  it('takes the single input as a tensor or a one-element array, and refuses more', () => {
    const head = new PatientFusionHead({ numRois: 2, embedDim: 4, heads: 2, projectionDim: 3, seed: 1 });
    head.ensureBuilt([null, 2, 4]);
    const tokens = tf.ones([1, 2, 4]);
    const a = head.apply(tokens) as tf.Tensor[];
    const b = head.apply([tokens]) as tf.Tensor[];
    expect(Array.from(a[0]!.dataSync())).toEqual(Array.from(b[0]!.dataSync()));
    const before = tf.memory().numTensors;
    expectMrnError(() => head.apply([tokens, tokens]), 'E_INVALID_ARGUMENT', /expects one input/);
    // A refused input is checked before tf.tidy, and nothing leaks.
    expectMrnError(
      () => head.apply(tf.ones([1, 3, 4])),
      'E_INVALID_ARGUMENT',
      /must have shape \[\?, 2, 4\]/,
    );
    expect(tf.memory().numTensors).toBe(before + 1); // the tf.ones just above
    tf.dispose([tokens, ...a, ...b]);
    head.dispose();
  });
});

describe('invalidArgument', () => {
  it('names the function or layer first and carries the details', () => {
    const e = invalidArgument('supConLoss', 'temperature must be > 0, got 0', { temperature: 0 });
    expect(e).toBeInstanceOf(MrnError);
    expect(e.code).toBe('E_INVALID_ARGUMENT');
    expect(e.message).toBe('supConLoss: temperature must be > 0, got 0');
    expect(e.details).toEqual({ temperature: 0 });
  });
});

describe('serialisation registry', () => {
  it('registers every layer under its class name', () => {
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    for (const cls of [SliceEncoder, AuxSegHead, RoiBranch, PatientFusionHead]) {
      expect(map[cls.className]?.[0]).toBe(cls);
    }
  });
});
