import { describe, expect, it } from 'vitest';
import { applyIntensitySteps, createRng, type Rng, type RoiSample } from '../../../src/index.js';

/** A random sample in [-0.2, 1.2) with slice 1 invalid (left untouched by every transform). */
function randomSample(D: number, S: number, seed: number): RoiSample {
  const rng = createRng(seed);
  const slices = Float32Array.from({ length: D * S * S }, () => rng.uniform(-0.2, 1.2));
  const masks = Int32Array.from({ length: D * S * S }, () => rng.int(0, 3));
  const valid = Uint8Array.from({ length: D }, (_, z) => (z === 1 ? 0 : 1));
  return { depth: D, size: S, slices, masks, valid };
}

/** The transforms as they were before the single pass: one Float32Array copy per transform. */
function mapValidReference(sample: RoiSample, f: (v: number) => number): RoiSample {
  const plane = sample.size * sample.size;
  const slices = sample.slices.slice();
  for (let z = 0; z < sample.depth; z++) {
    if (!sample.valid[z]) continue;
    for (let p = z * plane; p < (z + 1) * plane; p++) slices[p] = f(slices[p]!);
  }
  return { ...sample, slices, masks: sample.masks.slice(), valid: sample.valid.slice() };
}

function referenceChain(s: RoiSample, scale: number, shift: number, gamma: number, std: number, rng: Rng) {
  let out = mapValidReference(s, (v) => v * scale + shift);
  out = mapValidReference(out, (v) => (v < 0 ? -Math.pow(-v, gamma) : Math.pow(v, gamma)));
  return std === 0 ? out : mapValidReference(out, (v) => v + rng.normal(0, std));
}

describe('applyIntensitySteps', () => {
  it('gives bit for bit what scale/shift, gamma and noise give one after the other', () => {
    for (const seed of [1, 2, 3]) {
      const s = randomSample(3, 9, seed);
      const p = createRng(100 + seed);
      const [scale, shift, gamma, std] = [
        p.uniform(0.9, 1.1),
        p.uniform(-0.05, 0.05),
        p.uniform(0.8, 1.25),
        0.02,
      ];
      const want = referenceChain(s, scale, shift, gamma, std, createRng(seed + 7));
      const got = applyIntensitySteps(s, {
        scaleShift: { scale, shift },
        gamma,
        noise: { std, rng: createRng(seed + 7) },
      });
      expect(got.slices).toEqual(want.slices);
      expect(got.masks).toEqual(s.masks);
      expect(got.masks).not.toBe(s.masks);
      expect(got.valid).toEqual(s.valid);
    }
  });

  it('skips absent steps, and noise of std 0 draws nothing', () => {
    const s = randomSample(2, 7, 4);
    const rng = createRng(5);
    const got = applyIntensitySteps(s, { gamma: 1.1, noise: { std: 0, rng } });
    const want = mapValidReference(s, (v) => (v < 0 ? -Math.pow(-v, 1.1) : Math.pow(v, 1.1)));
    expect(got.slices).toEqual(want.slices);
    expect(rng.next()).toBe(createRng(5).next());
    expect(applyIntensitySteps(s, {}).slices).toEqual(s.slices);
  });
});
