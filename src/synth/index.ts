/**
 * `mrn/synth`: the synthetic cohort simulator. It writes PDCAD-style case folders (QSM, NM and their
 * masks, a labels CSV and the generating truth) for tests, demos and benchmarks; no model, data or
 * training code of mrn imports it. The label facts it paints come from the root's `nucleus-labels`.
 *
 * @example
 * ```ts
 * import { makeSyntheticCohort } from 'mrn/synth';
 * const cohort = await makeSyntheticCohort({ outDir: 'synth', cases: 40, seed: 1 });
 * ```
 *
 * @packageDocumentation
 * @module mrn/synth
 */

export {
  synthGrid,
  sampleAnatomy,
  gridVoxelToWorld,
  placeAnatomy,
  CHALLENGE_INPLANE_MM,
  CHALLENGE_SLICE_MM,
  CHALLENGE_SHAPE,
  MEAN_NUCLEUS_VOLUMES_CM3,
  type SynthGrid,
  type SynthFov,
  type NucleusPlacement,
  type SubjectAnatomy,
  type AnatomyVariation,
  DEFAULT_ANATOMY_VARIATION,
  type PlacedShape,
  type PlacedAnatomy,
} from './anatomy.js';
export * from './templates.js';
export * from './disease.js';
export * from './contrast.js';
export * from './cohort.js';
