import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import {
  DEFAULT_ROI_SPECS,
  resolveMultiRoiNetConfig,
  roiSpecsFromDefinitions,
} from '../../src/layers/multi-roi-net-config.js';
import { MRN_ROIS } from '../../src/index.js';
import { expectMrnError } from '../helpers/errors.js';
import { TinyVit } from './helpers/tiny-vit.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('resolveMultiRoiNetConfig', () => {
  it('the default ROIs are the four MRN ROIs of the ROI pipeline', () => {
    expect(roiSpecsFromDefinitions(MRN_ROIS)).toEqual(DEFAULT_ROI_SPECS.map((r) => ({ ...r })));
    expect(resolveMultiRoiNetConfig({ backboneDim: 8 }).rois).toEqual(
      DEFAULT_ROI_SPECS.map((r) => ({ ...r })),
    );
  });

  it('explicit fields win over the backbone, the backbone over the preset', () => {
    const vit = new TinyVit({ imageSize: 14, patchSize: 7, embedDim: 8 });
    expect(resolveMultiRoiNetConfig({}, { backbone: vit })).toMatchObject({ backboneDim: 8, patchSize: 7 });
    expect(resolveMultiRoiNetConfig({ backboneDim: 4 })).toMatchObject({ backboneDim: 4, patchSize: 14 });
    expectMrnError(
      () => resolveMultiRoiNetConfig({ backboneDim: 16 }, { backbone: vit }),
      'E_CONFIG',
      /backboneDim = 16 but the backbone's embedDim is 8/,
    );
    vit.dispose();
  });

  it('refuses a missing width, no ROI, an ROI without id, duplicate ids and a bad segResolution', () => {
    expectMrnError(() => resolveMultiRoiNetConfig({}), 'E_CONFIG', /give a backbone or config.backboneDim/);
    expectMrnError(
      () => resolveMultiRoiNetConfig({ backboneDim: 8, rois: [] }),
      'E_CONFIG',
      /at least one ROI/,
    );
    expectMrnError(
      () => resolveMultiRoiNetConfig({ backboneDim: 8, rois: [{ id: '', numClasses: 2 }] }),
      'E_CONFIG',
      /every ROI needs an id/,
    );
    const twice = [
      { id: 'a', numClasses: 2 },
      { id: 'a', numClasses: 3 },
    ];
    expectMrnError(
      () => resolveMultiRoiNetConfig({ backboneDim: 8, rois: twice }),
      'E_CONFIG',
      /duplicate ROI id 'a'/,
    );
    expectMrnError(
      () => resolveMultiRoiNetConfig({ backboneDim: 8, segResolution: 'half' as 'full' }),
      'E_CONFIG',
      /segResolution must be 'block' or 'full'/,
    );
  });
});
