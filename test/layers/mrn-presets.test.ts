import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { AuxSegHead } from '../../src/layers/aux-seg-head.js';
import { auxBlockUpsample, MRN_PRESETS, resolveMrnArchitecture } from '../../src/layers/mrn-presets.js';
import { resolveMultiRoiNetConfig } from '../../src/layers/multi-roi-net-config.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import { PatientFusionHead } from '../../src/layers/patient-fusion-head.js';
import { RoiBranch } from '../../src/layers/roi-branch.js';
import { expectMrnError } from '../helpers/errors.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('MRN_PRESETS', () => {
  it("'mrn-paper' holds the paper's sizes and is what a model without preset gets", () => {
    const paper = MRN_PRESETS['mrn-paper'];
    expect(paper).toMatchObject({ embedDim: 256, heads: 4, sfaDepth: 2, segHiddenDim: 64, segUpsample: 4 });
    expect(paper).toMatchObject({ projectionDim: 128, fusion: 'transformer', segResolution: 'block' });
    const resolved = resolveMultiRoiNetConfig({ backboneDim: 8 });
    expect(resolved).toMatchObject({ ...paper, preset: 'mrn-paper', backboneDim: 8, seed: 0 });
  });

  it("'mrn-tiny' plus overrides; undefined fields keep the preset's value", () => {
    const c = resolveMultiRoiNetConfig({
      preset: 'mrn-tiny',
      embedDim: 32,
      heads: undefined,
      backboneDim: 8,
    });
    expect(c).toMatchObject({ preset: 'mrn-tiny', embedDim: 32, heads: 2, sfaDepth: 1, segUpsample: 2 });
    expect(c.projectionDim).toBe(MRN_PRESETS['mrn-tiny'].projectionDim);
  });

  it('a configuration from before presets (no preset, no embedDim) resolves as it did', () => {
    const before = { embedDim: 256, backboneDim: 8 };
    const now = { preset: undefined, embedDim: undefined, backboneDim: 8 };
    expect(resolveMultiRoiNetConfig(now)).toEqual(resolveMultiRoiNetConfig(before));
  });

  it('refuses an unknown preset', () => {
    expectMrnError(
      () => resolveMrnArchitecture({ preset: 'mrn-huge' as 'mrn-tiny' }),
      'E_CONFIG',
      /unknown MRN preset 'mrn-huge'/,
    );
  });

  it("the aux block resolution follows the preset's segUpsample", () => {
    expect(auxBlockUpsample({})).toBe(4);
    expect(auxBlockUpsample({ preset: 'mrn-tiny' })).toBe(2);
    expect(auxBlockUpsample({ preset: 'mrn-tiny', segUpsample: 3 })).toBe(3);
    expect(auxBlockUpsample({ preset: 'mrn-tiny', segResolution: 'full' })).toBeNull();
  });

  it("the layers' own defaults are 'mrn-paper''s", () => {
    const paper = MRN_PRESETS['mrn-paper'];
    const branch = new RoiBranch({ numSegClasses: 2, inputDim: 8 });
    expect([branch.embedDim, branch.heads, branch.sfaDepth, branch.maxSlices]).toEqual([
      paper.embedDim,
      paper.heads,
      paper.sfaDepth,
      paper.maxSlices,
    ]);
    const head = new PatientFusionHead({ numRois: 2 });
    expect([head.numClasses, head.depth, head.heads, head.projectionDim]).toEqual([
      paper.numClasses,
      paper.fusionDepth,
      paper.heads,
      paper.projectionDim,
    ]);
    const aux = new AuxSegHead({ numClasses: 2 });
    expect([aux.hiddenDim, aux.upsample]).toEqual([paper.segHiddenDim, paper.segUpsample]);
    branch.dispose();
    head.dispose();
    aux.dispose();
  });

  it('a checkpoint stores the preset and every resolved field, and loads to the same model', async () => {
    const model = new MultiRoiNet({
      preset: 'mrn-tiny',
      rois: [{ id: 'a', numClasses: 2, slices: 2 }],
      backboneDim: 8,
    });
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save({
      save: async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      },
    });
    const config = (saved!.modelTopology as unknown as { config: Record<string, unknown> }).config;
    expect(config).toEqual({ ...model.getConfig() });
    expect(config).toMatchObject({ preset: 'mrn-tiny', embedDim: 16, heads: 2, segUpsample: 2 });
    const loaded = await MultiRoiNet.load({ load: async () => saved! });
    expect(loaded.getConfig()).toEqual(model.getConfig());
    model.dispose();
    loaded.dispose();
  });
});
