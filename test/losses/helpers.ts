/**
 * Test helpers for the losses: backend loop, fixture loading, and an independent float64 SupCon
 * written with plain numbers (straight from the paper's formula, log-sum-exp over the non-self terms).
 */

import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';

/** The backends every loss is checked on. */
export const BACKENDS = ['cpu', 'wasm'] as const;

/** Reads a JSON fixture relative to this folder. */
export function readJson<T>(relative: string): T {
  return JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as T;
}

/** True when every value is finite. */
export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** Loss value and gradient w.r.t. `x` as plain arrays; disposes everything it made. */
export async function valueAndGrad(
  f: (x: tf.Tensor) => tf.Scalar,
  x: tf.Tensor,
): Promise<{ value: number; grad: Float32Array }> {
  const { value, grad } = tf.valueAndGrad(f)(x);
  const out = { value: (await value.data())[0], grad: (await grad.data()) as Float32Array };
  tf.dispose([value, grad]);
  return out;
}

/**
 * Float64 SupCon (L_out, 'all' or 'one' anchors) on features [B][V][E] already normalised as wanted.
 * Anchors without positives contribute 0 and count in the mean (the reference's fix).
 */
export function supConFloat64(
  features: number[][][],
  labels: number[],
  temperature: number,
  baseTemperature: number,
  mode: 'all' | 'one',
): number {
  const b = features.length;
  const v = features[0].length;
  const contrast: { vec: number[]; label: number }[] = [];
  for (let view = 0; view < v; view++)
    for (let i = 0; i < b; i++) contrast.push({ vec: features[i][view], label: labels[i] });
  const anchors = mode === 'all' ? contrast.length : b;
  let total = 0;
  for (let a = 0; a < anchors; a++) {
    const logits = contrast.map(
      (c) => c.vec.reduce((s, x, k) => s + x * contrast[a].vec[k], 0) / temperature,
    );
    let max = -Infinity;
    for (let j = 0; j < logits.length; j++) if (j !== a) max = Math.max(max, logits[j]);
    let sum = 0;
    for (let j = 0; j < logits.length; j++) if (j !== a) sum += Math.exp(logits[j] - max);
    const logDen = max + Math.log(sum);
    let pos = 0;
    let acc = 0;
    for (let j = 0; j < logits.length; j++) {
      if (j === a || contrast[j].label !== contrast[a].label) continue;
      pos++;
      acc += logits[j] - logDen;
    }
    total += pos > 0 ? acc / pos : 0;
  }
  return (-(temperature / baseTemperature) * total) / anchors;
}

/** L2-normalises every innermost vector (float64). */
export function normalizeRows(features: number[][][]): number[][][] {
  return features.map((views) =>
    views.map((vec) => {
      const n = Math.sqrt(vec.reduce((s, x) => s + x * x, 0));
      return vec.map((x) => x / n);
    }),
  );
}
