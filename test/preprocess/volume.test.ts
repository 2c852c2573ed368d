/** Volumes and their voxel/world coordinates, on an affine of test/fixtures/nifti/geometry.json (rotated, anisotropic). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createVolume, voxelToWorld, worldToVoxel, type Affine } from '../../src/index.js';

const geo = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/nifti/geometry.json', import.meta.url)), 'utf8'),
) as { to_match: { affine: Affine }[] };

describe('voxel and world coordinates', () => {
  const a = createVolume(new Float32Array(7 * 6 * 5), [7, 6, 5], geo.to_match[1]!.affine, 'QSM.nii.gz');

  it('worldToVoxel inverts voxelToWorld', () => {
    const p = voxelToWorld(a, [1.5, 2, 4.25]);
    const back = worldToVoxel(a, p);
    [1.5, 2, 4.25].forEach((v, i) =>
      expect(Math.abs(back[i]! - v) / (1 + Math.abs(v))).toBeLessThanOrEqual(1e-12),
    );
  });
});
