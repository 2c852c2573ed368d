/** reorientToCanonical (nibabel's as_closest_canonical): a fresh volume, and a clear error for a singular affine. */
import { describe, expect, it } from 'vitest';
import { createVolume, isMrnError, orientation, reorientToCanonical } from '../../src/index.js';
import { thrownBy } from '../helpers/errors.js';

describe('reorientToCanonical', () => {
  it('reorientToCanonical returns a fresh volume even when already RAS+', () => {
    const ras = createVolume(
      Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
      [2, 2, 2],
      [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ],
    );
    const c = reorientToCanonical(ras);
    expect(c.data.data).not.toBe(ras.data.data);
    expect(Array.from(c.data.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(orientation(c)).toBe('RAS');
  });

  it('a singular affine gives E_ORIENTATION naming the volume', () => {
    const flat = createVolume(
      new Float32Array(8),
      [2, 2, 2],
      [
        [1, 1, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ],
      'flat.nii',
    );
    const e = thrownBy(() => reorientToCanonical(flat));
    expect(isMrnError(e, 'E_ORIENTATION')).toBe(true);
    expect((e as Error).message).toContain('flat.nii');
  });
});
