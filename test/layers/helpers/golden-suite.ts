/**
 * The DINOv2 golden checks, run once per backend (each backend's test file calls this): every input
 * size of every reference fixture, CLS / registers / patch / prenorm / intermediate outputs within
 * 1e-4 max abs of the official code.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type BackendName } from '../../../src/backend.js';
import { readSafetensors, type SafetensorsTensor } from '../../../src/io/safetensors.js';
import { loadDinov2 } from '../../../src/layers/vit/load-dinov2.js';
import type { VisionTransformer } from '../../../src/layers/vit/vision-transformer.js';

export const REFERENCE = (p: string) => new URL(`../../fixtures/reference/${p}`, import.meta.url).pathname;
export const OWN = (p: string) => new URL(`../../fixtures/dinov2/${p}`, import.meta.url).pathname;

/** NCHW reference pixels -> NHWC tensor. */
export function nhwc(t: SafetensorsTensor): tf.Tensor4D {
  return tf.tidy(() =>
    tf.transpose(
      tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number]),
      [0, 2, 3, 1],
    ),
  );
}

export function maxAbsDiff(a: tf.Tensor, ref: SafetensorsTensor): number {
  expect(a.shape).toEqual(ref.shape);
  const x = a.dataSync();
  const y = ref.data as Float32Array;
  let m = 0;
  for (let i = 0; i < y.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

const TOL = 1e-4;

export function goldenSuite(
  backend: BackendName,
  models: Array<{ label: string; dir: string; sizes?: string[] }>,
): void {
  describe(`DINOv2 against the official code on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend({ backend });
    });
    for (const { label, dir, sizes } of models) {
      describe(label, () => {
        let vit: VisionTransformer;
        let ref: Record<string, SafetensorsTensor>;
        beforeAll(async () => {
          vit = await loadDinov2(dir);
          ref = await readSafetensors(`${dir}/reference_io.safetensors`);
        });
        const all = sizes ?? [];
        it('covers its reference sizes', () => {
          const found = [...new Set(Object.keys(ref).map((k) => k.split('.')[0]))].sort();
          if (sizes) expect(found).toEqual([...sizes].sort());
        });
        for (const size of all) {
          it(`${size}: cls, registers, patch, prenorm and intermediate layers within ${TOL}`, () => {
            const before = tf.memory().numTensors;
            const x = nhwc(ref[`${size}.pixel_values_nchw`]);
            const f = vit.forwardFeatures(x);
            const errs: Record<string, number> = {
              cls: maxAbsDiff(f.cls, ref[`${size}.cls`]),
              patch: maxAbsDiff(f.patch, ref[`${size}.patch`]),
              prenorm: maxAbsDiff(f.prenorm, ref[`${size}.prenorm`]),
            };
            if (ref[`${size}.registers`]) errs.registers = maxAbsDiff(f.registers!, ref[`${size}.registers`]);
            else expect(f.registers).toBeUndefined();
            const inter = vit.intermediateLayers(x, 2);
            inter.forEach((o, j) => {
              errs[`intermediate${j}.cls`] = maxAbsDiff(o.cls, ref[`${size}.intermediate${j}.cls`]);
              errs[`intermediate${j}.patch`] = maxAbsDiff(o.patch, ref[`${size}.intermediate${j}.patch`]);
            });
            console.log(
              `${backend} ${label} ${size}`,
              JSON.stringify(
                Object.fromEntries(Object.entries(errs).map(([k, v]) => [k, v.toExponential(2)])),
              ),
            );
            for (const v of Object.values(errs)) expect(v).toBeLessThan(TOL);
            tf.dispose([x, f as unknown as tf.TensorContainer, inter as unknown as tf.TensorContainer]);
            // the position-embedding cache for this size is the only tensor allowed to remain
            expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 1);
          });
        }
      });
    }
  });
}

export const GOLDEN_MODELS = [
  { label: 'dinov2-tiny (F32)', dir: REFERENCE('dinov2-tiny'), sizes: ['224x224', '98x70'] },
  { label: 'dinov2-tiny-bf16 (BF16)', dir: REFERENCE('dinov2-tiny-bf16'), sizes: ['224x224'] },
  {
    label: 'registers, F16, antialiased interpolation (own fixture)',
    dir: OWN('reg-f16'),
    sizes: ['224x224', '42x98'],
  },
  { label: 'SwiGLU FFN (own fixture)', dir: OWN('swiglu'), sizes: ['56x70'] },
];
