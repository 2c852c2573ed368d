/**
 * createMrnEnsemble's own promises (its predictions against loadMrn's are in load-mrn-files.test.ts):
 * it refuses an empty ensemble or a backbone of another width, freeing what it was given, and
 * predictVolumes names a missing volume before any work.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createMrnEnsemble,
  createRandomBackbone,
  createVolume,
  identityAffine,
  MultiRoiNet,
  PDCAD_FILE_ROLES,
  selectBackend,
  type CaseVolumes,
} from '../../src/index.js';
import { TINY_CONFIG, TINY_ROIS } from '../layers/helpers/tiny-model.js';

const RECORDED = { kind: 'random' as const, sha256: 'f'.repeat(64) };
let start = 0;

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});
afterEach(() => {
  expect(tf.memory().numTensors).toBe(start);
});

describe('createMrnEnsemble', () => {
  it('refuses a backbone of another width or no members, freeing the members and the owned backbone', () => {
    start = tf.memory().numTensors;
    const vit = createRandomBackbone(); // width 64
    const model = new MultiRoiNet({ ...TINY_CONFIG, backboneDim: 32 });
    let freed = 0;
    const parts = {
      backbone: vit,
      recorded: RECORDED,
      preprocessing: {},
      disposeBackbone: () => {
        freed++;
        vit.dispose();
      },
    };
    expect(() => createMrnEnsemble({ ...parts, models: [model] })).toThrow(
      expect.objectContaining({ code: 'E_CHECKPOINT', message: expect.stringMatching(/width 64 .* 32/) }),
    );
    expect(freed).toBe(1);
    const again = createRandomBackbone();
    expect(() =>
      createMrnEnsemble({ ...parts, backbone: again, disposeBackbone: () => again.dispose(), models: [] }),
    ).toThrow(
      expect.objectContaining({ code: 'E_CHECKPOINT', message: expect.stringMatching(/at least one/) }),
    );
  });

  it('predictVolumes names a missing volume with the case id', async () => {
    start = tf.memory().numTensors;
    const vit = createRandomBackbone();
    const ensemble = createMrnEnsemble({
      models: [new MultiRoiNet({ ...TINY_CONFIG, backboneDim: vit.embedDim })],
      backbone: vit,
      recorded: RECORDED,
      preprocessing: {},
      disposeBackbone: () => vit.dispose(),
    });
    try {
      expect(ensemble.members).toBe(1);
      expect(ensemble.roiIds).toEqual(TINY_ROIS.map((r) => r.id));
      const volumes = {} as CaseVolumes;
      for (const role of PDCAD_FILE_ROLES.filter((r) => r !== 'NM_mask'))
        volumes[role] = createVolume(new Float32Array(8), [2, 2, 2], identityAffine(), role);
      await expect(ensemble.predictVolumes({ id: 'c1', volumes })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        caseId: 'c1',
        message: expect.stringMatching(/volumes lack NM_mask/),
      });
    } finally {
      ensemble.dispose();
    }
  });
});
