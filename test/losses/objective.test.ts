import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRng,
  crossEntropyLoss,
  diceCELoss,
  isMrnError,
  multiRoiSupConLoss,
  mrnObjective,
  selectBackend,
  type MrnBatch,
  type MrnLossTerms,
  type MrnOutputs,
} from '../../src/index.js';
import { BACKENDS } from './helpers.js';
import { thrownBy } from '../helpers/errors.js';

const B = 4;
const K = 2;
const R = 2;
const P = 5;
const E = 7;
const S = 4;
const ROIS = [
  { id: 'nm-sn', d: 3, classes: 3 },
  { id: 'qsm-dn', d: 2, classes: 2 },
];
const LABELS = [0, 1, 1, 0];

function normal(rng: ReturnType<typeof createRng>, shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Array.from({ length: n }, () => rng.normal()),
    shape,
  );
}

/** The trainable stand-ins for a network's outputs. */
function makeVariables(seed: number): Record<string, tf.Variable> {
  const rng = createRng(seed);
  const vars: Record<string, tf.Variable> = {};
  const add = (name: string, shape: number[]) => {
    const init = normal(rng, shape);
    vars[name] = tf.variable(init);
    init.dispose();
  };
  add('logits', [B, K]);
  add('projections', [B, R, P]);
  add('patient', [B, E]);
  for (const roi of ROIS) add(`seg-${roi.id}`, [B, roi.d, S, S, roi.classes]);
  return vars;
}

/** MrnOutputs computed from the variables (inside the caller's gradient scope). */
function makeOutputs(vars: Record<string, tf.Variable>): MrnOutputs {
  return {
    roiIds: ROIS.map((r) => r.id),
    logits: tf.mul(vars.logits, 1) as tf.Tensor2D,
    patientEmbedding: tf.mul(vars.patient, 1) as tf.Tensor2D,
    roiTokens: tf.zeros([B, R, E]) as tf.Tensor3D,
    projections: tf.mul(vars.projections, 1) as tf.Tensor3D,
    segLogits: Object.fromEntries(ROIS.map((r) => [r.id, tf.mul(vars[`seg-${r.id}`], 1) as tf.Tensor5D])),
    sliceAttention: Object.fromEntries(ROIS.map((r) => [r.id, tf.fill([B, r.d], 1 / r.d) as tf.Tensor2D])),
    patchAttention: Object.fromEntries(ROIS.map((r) => [r.id, tf.fill([B, r.d, 1], 1) as tf.Tensor3D])),
  };
}

/** A batch with masks on the ROIs listed in `withMasks`; the last slice of patient 0 is padding. */
function makeBatch(seed: number, withMasks: string[]): MrnBatch {
  const rng = createRng(seed);
  const rois: MrnBatch['rois'] = {};
  for (const roi of ROIS) {
    const valid = tf.tidy(() => {
      const v = Array.from({ length: B * roi.d }, (_, i) => (i === roi.d - 1 ? 0 : 1));
      return tf.tensor2d(v, [B, roi.d]);
    });
    const masks = withMasks.includes(roi.id)
      ? (tf.tensor4d(
          Array.from({ length: B * roi.d * S * S }, () => rng.int(0, roi.classes)),
          [B, roi.d, S, S],
          'int32',
        ) as tf.Tensor4D)
      : undefined;
    rois[roi.id] = {
      patch: tf.zeros([B, roi.d, 1, E]) as tf.Tensor4D,
      cls: tf.zeros([B, roi.d, E]) as tf.Tensor3D,
      valid,
      masks,
    };
  }
  return { rois, labels: tf.tensor1d(LABELS, 'int32') };
}

function disposeBatch(batch: MrnBatch): void {
  for (const roi of Object.values(batch.rois))
    tf.dispose([
      roi.valid,
      roi.masks as tf.Tensor,
      (roi as { patch: tf.Tensor }).patch,
      (roi as { cls: tf.Tensor }).cls,
    ]);
  batch.labels?.dispose();
}

function disposeOutputs(o: MrnOutputs): void {
  tf.dispose([
    o.logits,
    o.patientEmbedding,
    o.roiTokens,
    o.projections,
    ...Object.values(o.segLogits),
    ...Object.values(o.sliceAttention),
    ...Object.values(o.patchAttention),
  ]);
}

function read(terms: MrnLossTerms): Record<keyof MrnLossTerms, number> {
  const out = {
    total: terms.total.dataSync()[0],
    classification: terms.classification.dataSync()[0],
    segmentation: terms.segmentation.dataSync()[0],
    contrastive: terms.contrastive.dataSync()[0],
  };
  tf.dispose([terms.total, terms.classification, terms.segmentation, terms.contrastive]);
  return out;
}

function scalar(x: tf.Scalar): number {
  const v = x.dataSync()[0];
  x.dispose();
  return v;
}

describe.each(BACKENDS)('mrnObjective on %s', (backend) => {
  let vars: Record<string, tf.Variable>;
  let outputs: MrnOutputs;
  beforeAll(async () => {
    await selectBackend({ backend });
    vars = makeVariables(1);
    outputs = makeOutputs(vars);
  });
  afterAll(() => {
    disposeOutputs(outputs);
    tf.dispose(Object.values(vars));
  });

  it('defaults: CE + 1·mean Dice-CE (background excluded from Dice) + 0.1·per-ROI SupCon (τ = τ_base = 0.07)', () => {
    const batch = makeBatch(2, ['nm-sn', 'qsm-dn']);
    const t = read(mrnObjective(outputs, batch));
    const cls = scalar(crossEntropyLoss(outputs.logits, batch.labels as tf.Tensor1D));
    const seg =
      ROIS.map((r) =>
        scalar(
          diceCELoss(outputs.segLogits[r.id], batch.rois[r.id].masks as tf.Tensor4D, {
            valid: batch.rois[r.id].valid,
            includeBackground: false,
          }),
        ),
      ).reduce((a, b) => a + b, 0) / ROIS.length;
    const con = scalar(
      multiRoiSupConLoss(outputs.projections, LABELS, { temperature: 0.07, baseTemperature: 0.07 }),
    );
    expect(t.classification).toBeCloseTo(cls, 6);
    expect(t.segmentation).toBeCloseTo(seg, 6);
    expect(t.contrastive).toBeCloseTo(con, 5);
    expect(t.total).toBeCloseTo(cls + seg + 0.1 * con, 5);
    disposeBatch(batch);
  });

  it('ROIs without masks skip the segmentation term; with none it is 0 and leaves the total', () => {
    const some = makeBatch(3, ['qsm-dn']);
    const t = read(mrnObjective(outputs, some, { lambdaSeg: 2 }));
    const only = scalar(
      diceCELoss(outputs.segLogits['qsm-dn'], some.rois['qsm-dn'].masks as tf.Tensor4D, {
        valid: some.rois['qsm-dn'].valid,
        includeBackground: false,
      }),
    );
    expect(t.segmentation).toBeCloseTo(only, 6);
    expect(t.total).toBeCloseTo(t.classification + 2 * only + 0.1 * t.contrastive, 5);
    const none = makeBatch(3, []);
    const n = read(mrnObjective(outputs, none, { lambdaSeg: 2 }));
    expect(n.segmentation).toBe(0);
    expect(n.total).toBeCloseTo(n.classification + 0.1 * n.contrastive, 5);
    disposeBatch(some);
    disposeBatch(none);
  });

  it('λ = 0 skips a term (reported as 0); the options reach the terms', () => {
    const batch = makeBatch(4, ['nm-sn', 'qsm-dn']);
    const zero = read(mrnObjective(outputs, batch, { lambdaSeg: 0, lambdaCon: 0 }));
    expect([zero.segmentation, zero.contrastive]).toEqual([0, 0]);
    expect(zero.total).toBeCloseTo(zero.classification, 6);
    const opts = {
      labelSmoothing: 0.1,
      classWeights: [1, 3],
      supconMode: 'joint' as const,
      temperature: 0.2,
      baseTemperature: 0.07,
      includePatientEmbedding: false,
      lambdaCon: 0.5,
      segmentation: { includeBackground: true, diceWeight: 0.3, ceWeight: 2 },
    };
    const t = read(mrnObjective(outputs, batch, opts));
    const labels = batch.labels as tf.Tensor1D;
    expect(t.classification).toBeCloseTo(
      scalar(crossEntropyLoss(outputs.logits, labels, { labelSmoothing: 0.1, classWeights: [1, 3] })),
      6,
    );
    const con = scalar(
      multiRoiSupConLoss(outputs.projections, LABELS, {
        mode: 'joint',
        temperature: 0.2,
        baseTemperature: 0.07,
      }),
    );
    expect(t.contrastive).toBeCloseTo(con, 5);
    const seg0 = scalar(
      diceCELoss(outputs.segLogits['nm-sn'], batch.rois['nm-sn'].masks as tf.Tensor4D, {
        valid: batch.rois['nm-sn'].valid,
        diceWeight: 0.3,
        ceWeight: 2,
      }),
    );
    const seg1 = scalar(
      diceCELoss(outputs.segLogits['qsm-dn'], batch.rois['qsm-dn'].masks as tf.Tensor4D, {
        valid: batch.rois['qsm-dn'].valid,
        diceWeight: 0.3,
        ceWeight: 2,
      }),
    );
    expect(t.segmentation).toBeCloseTo((seg0 + seg1) / 2, 6);
    const weighted = read(
      mrnObjective(outputs, batch, { roiWeights: { 'qsm-dn': 0 }, includePatientEmbedding: true }),
    );
    const expected = scalar(
      multiRoiSupConLoss(outputs.projections, LABELS, {
        weights: [1, 0],
        patientEmbedding: outputs.patientEmbedding,
      }),
    );
    expect(weighted.contrastive).toBeCloseTo(expected, 5);
    disposeBatch(batch);
  });

  it('trains every output under tf.variableGrads with finite gradients and leaks no tensor', () => {
    const batch = makeBatch(5, ['nm-sn', 'qsm-dn']);
    const local = makeVariables(6);
    const optimizer: tf.Optimizer = tf.train.adam(0.05);
    const before = tf.memory().numTensors;
    const totals: number[] = [];
    for (let step = 0; step < 8; step++) {
      const { value, grads } = tf.variableGrads(() => {
        const o = makeOutputs(local);
        return mrnObjective(o, batch, { lambdaCon: 1 }).total;
      }, Object.values(local));
      totals.push(value.dataSync()[0]);
      for (const [name, g] of Object.entries(grads)) {
        const values = g.dataSync();
        expect(values.every(Number.isFinite), name).toBe(true);
        expect(
          values.some((x) => x !== 0),
          name,
        ).toBe(true);
      }
      optimizer.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
      if (step === 0) expect(tf.memory().numTensors).toBeGreaterThan(before); // optimizer slots appear once
    }
    const afterSlots = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => mrnObjective(makeOutputs(local), batch).total,
      Object.values(local),
    );
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(afterSlots);
    expect(totals[7]).toBeLessThan(totals[0]);
    optimizer.dispose();
    tf.dispose(Object.values(local));
    disposeBatch(batch);
  });

  it('rejects bad input with E_INVALID_ARGUMENT, naming the ROI for mask problems', () => {
    const batch = makeBatch(7, ['nm-sn']);
    const noLabels: MrnBatch = { rois: batch.rois };
    const shortLabels = tf.tensor1d([0, 1], 'int32');
    const floatLabels = tf.tensor1d([0, 1, 1, 0]);
    const badMasks = tf.zeros([B, 3, S + 1, S], 'int32') as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const cases: [string, () => unknown, RegExp?][] = [
      ['no labels', () => mrnObjective(outputs, noLabels)],
      ['label count', () => mrnObjective(outputs, { ...batch, labels: shortLabels })],
      ['float labels', () => mrnObjective(outputs, { ...batch, labels: floatLabels as tf.Tensor1D })],
      ['negative lambda', () => mrnObjective(outputs, batch, { lambdaCon: -1 })],
      [
        'mask shape',
        () =>
          mrnObjective(outputs, {
            ...batch,
            rois: { ...batch.rois, 'nm-sn': { ...batch.rois['nm-sn'], masks: badMasks } },
          }),
        /ROI 'nm-sn'/,
      ],
      [
        'roi weights in joint mode',
        () => mrnObjective(outputs, batch, { supconMode: 'joint', roiWeights: { 'nm-sn': 2 } }),
      ],
    ];
    for (const [name, f, message] of cases) {
      const error = thrownBy(f, name);
      expect(isMrnError(error, 'E_INVALID_ARGUMENT'), name).toBe(true);
      if (message) expect((error as Error).message).toMatch(message);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([shortLabels, floatLabels, badMasks]);
    disposeBatch(batch);
  });
});
