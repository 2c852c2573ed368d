import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  encodeMultiRoiNetSafetensors,
  encodeSafetensors,
  loadMultiRoiNetSafetensors,
  MULTI_ROI_NET_SAFETENSORS_FORMAT,
  MultiRoiNet,
  readSafetensorsHeader,
  saveMultiRoiNetSafetensors,
  selectBackend,
  type SafetensorsWriteTensor,
} from '../../src/index.js';
import { expectMrnRejection } from '../helpers/errors.js';
import { TINY_CONFIG } from '../layers/helpers/tiny-model.js';

const FEATURES = { ...TINY_CONFIG, backboneDim: 12 };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-model-st-'));

async function weightsOf(model: MultiRoiNet): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const w of model.namedWeights()) out[w.path] = (await w.variable.read().data()) as Float32Array;
  return out;
}

describe('MultiRoiNet weights as safetensors', () => {
  beforeAll(async () => {
    await selectBackend({ backend: 'cpu' });
  });

  it('writes every weight under its path, F32 with its shape, and the config in the metadata', async () => {
    const model = new MultiRoiNet(FEATURES);
    const file = path.join(tmp, 'tiny.safetensors');
    await saveMultiRoiNetSafetensors(model, file);
    const header = await readSafetensorsHeader(file);
    const named = model.namedWeights();
    expect(header.entries.map((e) => e.name).sort()).toEqual(named.map((w) => w.path).sort());
    for (const w of named) {
      const e = header.entries.find((x) => x.name === w.path)!;
      expect(e.dtype).toBe('F32');
      expect(e.shape).toEqual(w.variable.shape);
    }
    expect(header.metadata.format).toBe(MULTI_ROI_NET_SAFETENSORS_FORMAT);
    expect(JSON.parse(header.metadata.config!)).toEqual(model.getConfig());
    const tensors = decodeSafetensors(readFileSync(file));
    const values = await weightsOf(model);
    for (const [name, t] of Object.entries(tensors))
      expect(Array.from(t.data as Float32Array)).toEqual(Array.from(values[name]!));
    model.dispose();
  });

  it('round-trips: a model with other weights loads them and gives identical outputs, without leaking', async () => {
    const a = new MultiRoiNet(FEATURES);
    const b = new MultiRoiNet({ ...FEATURES, seed: 99 });
    const bytes = await encodeMultiRoiNetSafetensors(a);
    const before = tf.memory().numTensors;
    await loadMultiRoiNetSafetensors(b, bytes);
    expect(tf.memory().numTensors).toBe(before);
    expect(await weightsOf(b)).toEqual(await weightsOf(a));
    const batch = {
      rois: Object.fromEntries(
        FEATURES.rois!.map((r) => [
          r.id,
          {
            patch: tf.randomNormal([2, r.slices!, 4, 12], 0, 1, 'float32', 1) as tf.Tensor4D,
            cls: tf.randomNormal([2, r.slices!, 12], 0, 1, 'float32', 2) as tf.Tensor3D,
            valid: tf.ones([2, r.slices!]) as tf.Tensor2D,
          },
        ]),
      ),
    };
    const [la, lb] = [a.apply(batch).logits, b.apply(batch).logits];
    expect(Array.from(await lb.data())).toEqual(Array.from(await la.data()));
    tf.dispose([la, lb, ...Object.values(batch.rois).flatMap((r) => [r.patch, r.cls, r.valid])]);
    a.dispose();
    b.dispose();
  });

  it('refuses missing, extra, mis-shaped and non-float tensors with E_CHECKPOINT, leaving the model as it was', async () => {
    const model = new MultiRoiNet(FEATURES);
    const good = decodeSafetensors(await encodeMultiRoiNetSafetensors(model));
    const original = await weightsOf(model);
    const asWrite = (t: Record<string, { dtype: string; shape: number[]; data: unknown }>) =>
      t as unknown as Record<string, SafetensorsWriteTensor>;
    const [first, second] = Object.keys(good);
    const missing = { ...good };
    delete missing[first!];
    const extra = { ...good, 'branches.nope.x': { dtype: 'F32', shape: [1], data: new Float32Array(1) } };
    const misShaped = { ...good, [first!]: { ...good[first!]!, shape: [good[first!]!.data.length, 1] } };
    const n = good[second!]!.data.length;
    const ints = {
      ...good,
      [second!]: { dtype: 'I32', shape: good[second!]!.shape, data: new Int32Array(n) },
    };
    for (const [bad, pattern] of [
      [missing, /missing 1/],
      [extra, /extra 1/],
      [misShaped, /mis-shaped or wrong dtype 1[\s\S]*file \[/],
      [ints, /dtype I32, expected F32/],
    ] as const) {
      const err = await expectMrnRejection(
        loadMultiRoiNetSafetensors(model, encodeSafetensors(asWrite(bad as never))),
        'E_CHECKPOINT',
      );
      expect(err.message).toMatch(pattern);
    }
    expect(await weightsOf(model)).toEqual(original);
    await expectMrnRejection(
      loadMultiRoiNetSafetensors(model, path.join(tmp, 'absent.safetensors')),
      'E_FILE_NOT_FOUND',
    );
    await expectMrnRejection(
      saveMultiRoiNetSafetensors(model, path.join(tmp, 'no/such/dir/x.safetensors')),
      'E_IO',
    );
    model.dispose();
  });
});
