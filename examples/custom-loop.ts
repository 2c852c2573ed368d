/**
 * Your own training loop, composing mrn's layers and losses directly — the main way the package is
 * meant to be used. A frozen DINOv2-style encoder (here a small random ViT; use `loadDinov2(dir)` for
 * real weights) encodes each ROI's slices once; one `RoiBranch` per ROI fuses them into an ROI token;
 * a `PatientFusionHead` classifies the patient and projects each ROI token; the objective is
 * cross-entropy + λ · multi-ROI SupCon. Random toy data, so it runs anywhere in seconds:
 *
 *   npx tsx examples/custom-loop.ts
 */
import * as tf from '@tensorflow/tfjs';
import {
  createRng,
  crossEntropyLoss,
  type EncodedSlices,
  MRN_PRESETS,
  multiRoiSupConLoss,
  PatientFusionHead,
  RoiBranch,
  selectBackend,
  SliceEncoder,
  VisionTransformer,
} from '../src/index.js';

/** Settings of {@link runCustomLoop}. */
export interface CustomLoopOptions {
  patients?: number;
  slices?: number;
  size?: number;
  steps?: number;
  seed?: number;
  log?: (line: string) => void;
}

/** Trains a tiny two-ROI model on toy data; returns the loss of every step and the final accuracy. */
export async function runCustomLoop(
  options: CustomLoopOptions = {},
): Promise<{ losses: number[]; accuracy: number }> {
  const { patients = 8, slices: d = 4, size: s = 28, steps = 30, seed = 0, log = () => {} } = options;
  const rng = createRng(seed);
  const roiIds = ['qsm-mb', 'nm-sn'];

  // Toy cohort: PD patients (label 1) have a brighter blob in every ROI slice.
  const labels = Array.from({ length: patients }, (_, i) => i % 2);
  const images = roiIds.map(() =>
    tf.tidy(() => {
      const values = new Float32Array(patients * d * s * s);
      for (let b = 0; b < patients; b++) {
        for (let k = 0; k < d * s * s; k++) {
          const x = k % s;
          const y = Math.floor(k / s) % s;
          const blob = Math.hypot(x - s / 2, y - s / 2) < s / 5 ? 0.3 + 0.3 * labels[b]! : 0;
          values[b * d * s * s + k] = 0.2 + blob + rng.normal(0, 0.05);
        }
      }
      return tf.tensor5d(values, [patients, d, s, s, 1]);
    }),
  );
  const valid = tf.ones([patients, d]) as tf.Tensor2D;
  const labelTensor = tf.tensor1d(labels, 'int32');

  // 1. Frozen encoder: run once, keep the features (no gradients reach the backbone).
  const vit = new VisionTransformer({ preset: 'dinov2-test-tiny', seed });
  const encoder = new SliceEncoder({ backbone: vit });
  const features: EncodedSlices[] = [];
  for (const x of images) features.push(await encoder.encode(x, { valid }));
  const e = vit.embedDim;

  // 2. One RES branch per ROI and the patient fusion head: the 'mrn-tiny' preset's heads and depth.
  const tiny = MRN_PRESETS['mrn-tiny'];
  const width = 32;
  const branches = roiIds.map((id, r) =>
    new RoiBranch({
      name: `branch_${r}`,
      numSegClasses: 2,
      embedDim: width,
      inputDim: e,
      heads: tiny.heads,
      sfaDepth: tiny.sfaDepth,
      maxSlices: d,
      outputSize: s,
      patchSize: vit.patchSize,
      seed: seed + r,
    }).ensureBuilt([
      [null, null, null, e],
      [null, null, e],
      [null, null],
    ]),
  );
  const head = new PatientFusionHead({
    numRois: roiIds.length,
    embedDim: width,
    heads: tiny.heads,
    projectionDim: 16,
    seed,
  });
  head.ensureBuilt([null, roiIds.length, width]);
  const vars = [...branches.flatMap((b) => b.trainableWeights), ...head.trainableWeights].map(
    (w) => w.read() as tf.Variable,
  );

  // 3. The loop: cross-entropy + 0.1 · multi-ROI SupCon, Adam.
  const optimizer = tf.train.adam(3e-3);
  const forward = () => {
    const tokens = branches.map(
      (b, r) => b.call([features[r]!.patch, features[r]!.cls, valid])[0] as tf.Tensor2D,
    );
    const [logits, , projections] = head.call(tf.stack(tokens, 1)) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor3D];
    return { logits, projections };
  };
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = optimizer.minimize(
      () => {
        const { logits, projections } = forward();
        const ce = crossEntropyLoss(logits, labelTensor);
        const con = multiRoiSupConLoss(projections, labelTensor, { temperature: 0.1 });
        return tf.add(ce, tf.mul(con, 0.1)) as tf.Scalar;
      },
      true,
      vars,
    )!;
    losses.push(loss.dataSync()[0]!);
    loss.dispose();
    if (step % 10 === 0 || step === steps - 1) log(`step ${step}: loss ${losses[step]!.toFixed(4)}`);
  }
  const predicted = tf.tidy(() => tf.argMax(forward().logits, -1));
  const pred = Array.from(predicted.dataSync());
  const accuracy = pred.filter((p, i) => p === labels[i]).length / patients;
  log(`training accuracy ${accuracy}`);

  tf.dispose([predicted, valid, labelTensor, ...images, ...features.flatMap((f) => [f.patch, f.cls])]);
  optimizer.dispose();
  branches.forEach((b) => b.dispose());
  head.dispose();
  vit.dispose();
  return { losses, accuracy };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await selectBackend();
  await runCustomLoop({ log: (l) => console.log(l) });
}
