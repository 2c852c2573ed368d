/** Small random ROI samples for the augmentation tests. */
import { createRng, type RoiSample } from '../../../src/index.js';

/** A random sample with classes 0..nClasses-1 and the last slice invalid. */
export function randomSample(D: number, S: number, nClasses: number, seed = 1): RoiSample {
  const rng = createRng(seed);
  const slices = Float32Array.from({ length: D * S * S }, () => rng.next());
  const masks = Int32Array.from({ length: D * S * S }, () => rng.int(0, nClasses));
  const valid = Uint8Array.from({ length: D }, (_, z) => (z === D - 1 ? 0 : 1));
  for (let p = (D - 1) * S * S; p < D * S * S; p++) {
    slices[p] = 0;
    masks[p] = 0;
  }
  return { depth: D, size: S, slices, masks, valid };
}

/** The flat index of voxel (slice z, row r, column c) in a sample. */
export const at = (s: RoiSample, z: number, r: number, c: number) => z * s.size * s.size + r * s.size + c;
