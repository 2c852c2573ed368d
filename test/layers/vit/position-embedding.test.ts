import { describe, expect, it } from 'vitest';
import { isMrnError } from '../../../src/errors.js';
import { interpolatePositionEmbedding } from '../../../src/layers/vit/position-embedding.js';
import { thrownBy } from '../../helpers/errors.js';

describe('interpolatePositionEmbedding', () => {
  it('keeps the trained grid as is and rejects grids the offset form cannot make', () => {
    const pos = new Float32Array((1 + 9) * 2).map((_, i) => i);
    expect(interpolatePositionEmbedding(pos, 2, 3, 3, { offset: 0.1, antialias: false })).toBe(pos);
    expect(interpolatePositionEmbedding(pos, 2, 2, 4, { offset: 0.1, antialias: false }).length).toBe(18);
    const err = thrownBy(() =>
      interpolatePositionEmbedding(new Float32Array(3 * 2), 2, 1, 1, { offset: 0.1, antialias: false }),
    );
    expect(isMrnError(err, 'E_INVALID_ARGUMENT')).toBe(true);
  });
});
