/**
 * Loss benchmark: forward + backward time of mrn's losses on tfjs (wasm and cpu) side by side with
 * the PyTorch reference formulas (float32, 1 thread) on the same deterministic inputs, with the
 * difference of the loss values. Run: `npx tsx bench/losses.ts` (needs /usr/bin/python3 with torch).
 */

import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { selectBackend } from '../src/backend.js';
import { diceCELoss } from '../src/losses/dice.js';
import { multiRoiSupConLoss } from '../src/losses/multi-roi-supcon.js';
import { supConLoss } from '../src/losses/supcon.js';

const ITERATIONS = 3;
const SUPCON = { b: 32, v: 4, e: 128 };
const SEG = { b: 2, d: 14, s: 224, c: 9 };

/** Deterministic inputs both engines can build: x[i] = sin(0.37·i + phase)·scale. */
function wave(n: number, phase: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(0.37 * i + phase) * scale;
  return out;
}
function labelsOf(b: number): number[] {
  return Array.from({ length: b }, (_, i) => ((i * 7) % 3) % 2);
}
function idsOf(n: number, c: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(i / 97) % c;
  return out;
}

interface Row {
  name: string;
  ms: number;
  loss: number;
}

async function timeIt(name: string, f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor): Promise<Row> {
  const times: number[] = [];
  let loss = NaN;
  for (let i = 0; i < ITERATIONS + 1; i++) {
    const t0 = performance.now();
    const { value, grad } = tf.valueAndGrad(f)(x);
    loss = (await value.data())[0];
    await grad.data();
    tf.dispose([value, grad]);
    if (i > 0) times.push(performance.now() - t0); // the first run warms kernels up
  }
  times.sort((a, b) => a - b);
  return { name, ms: times[Math.floor(times.length / 2)], loss };
}

async function ours(backend: 'wasm' | 'cpu'): Promise<Row[]> {
  await selectBackend({ backend });
  const { b, v, e } = SUPCON;
  const feats = tf.tensor3d(wave(b * v * e, 0.1, 1), [b, v, e]);
  const labels = labelsOf(b);
  const rows = [
    await timeIt(`supcon [${b},${v},${e}] all`, (x) => supConLoss(x, labels), feats),
    await timeIt(
      `multi-roi per-roi [${b},${v},${e}]`,
      (x) => multiRoiSupConLoss(x as tf.Tensor3D, labels),
      feats,
    ),
  ];
  feats.dispose();
  if (backend === 'wasm') {
    const { b: sb, d, s, c } = SEG;
    const logits = tf.tensor(wave(sb * d * s * s * c, 0.3, 3), [sb, d, s, s, c]) as tf.Tensor5D;
    const targets = tf.tensor4d(idsOf(sb * d * s * s, c), [sb, d, s, s], 'int32');
    const valid = tf.tensor2d(
      Array.from({ length: sb * d }, (_, i) => (i % d < d - 2 ? 1 : 0)),
      [sb, d],
    );
    rows.push(
      await timeIt(
        `diceCE [${sb},${d},${s},${s},${c}]`,
        (x) => diceCELoss(x as tf.Tensor5D, targets, { valid, includeBackground: false }),
        logits,
      ),
    );
    tf.dispose([logits, targets, valid]);
  }
  return rows;
}

const PYTHON = String.raw`
import json, math, sys, time, torch, torch.nn.functional as F
torch.set_num_threads(1)
cfg = json.loads(sys.argv[1])
def wave(n, phase, scale):
    return (torch.sin(0.37 * torch.arange(n, dtype=torch.float64) + phase) * scale).float()
def supcon(f, labels, t=0.07, bt=0.07):
    b, v, _ = f.shape
    mask = torch.eq(labels.view(-1, 1), labels.view(1, -1)).float()
    cf = torch.cat(torch.unbind(f, 1), 0)
    adc = cf @ cf.T / t
    logits = adc - adc.max(1, keepdim=True)[0].detach()
    mask = mask.repeat(v, v)
    lm = torch.scatter(torch.ones_like(mask), 1, torch.arange(b * v).view(-1, 1), 0)
    mask = mask * lm
    lp = logits - torch.log((torch.exp(logits) * lm).sum(1, keepdim=True))
    mp = mask.sum(1)
    mp = torch.where(mp < 1e-6, torch.ones_like(mp), mp)
    return (-(t / bt) * (mask * lp).sum(1) / mp).mean()
def timed(name, fn, x):
    times = []
    for i in range(${ITERATIONS + 1}):
        x.grad = None
        t0 = time.perf_counter()
        loss = fn(x)
        loss.backward()
        if i > 0:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"name": name, "ms": times[len(times) // 2], "loss": float(loss)}
s = cfg["supcon"]
b, v, e = s["b"], s["v"], s["e"]
feats = wave(b * v * e, 0.1, 1).view(b, v, e).requires_grad_()
labels = torch.tensor([(i * 7) % 3 % 2 for i in range(b)])
rows = [timed("supcon [%d,%d,%d] all" % (b, v, e), lambda x: supcon(F.normalize(x, dim=2), labels), feats),
        timed("multi-roi per-roi [%d,%d,%d]" % (b, v, e),
              lambda x: sum(supcon(F.normalize(x[:, r:r + 1], dim=2), labels) for r in range(v)) / v, feats)]
g = cfg["seg"]
sb, d, sz, c = g["b"], g["d"], g["s"], g["c"]
logits = wave(sb * d * sz * sz * c, 0.3, 3).view(sb, d, sz, sz, c).requires_grad_()
ids = (torch.arange(sb * d * sz * sz) // 97 % c).view(sb, d, sz, sz)
valid = torch.tensor([1.0 if i % d < d - 2 else 0.0 for i in range(sb * d)]).view(sb, d)
def dice_ce(x):
    # MONAI DiceCELoss(include_background=False, to_onehot_y=True, softmax=True) on valid slices only.
    p = torch.softmax(x, -1) * valid[:, :, None, None, None]
    gt = F.one_hot(ids, c).float() * valid[:, :, None, None, None]
    p, gt1 = p[..., 1:], gt[..., 1:]
    inter = (p * gt1).sum((1, 2, 3)); den = p.sum((1, 2, 3)) + gt1.sum((1, 2, 3))
    dice = (1 - (2 * inter + 1e-5) / (den + 1e-5)).mean()
    keep = valid.bool()
    ce = F.cross_entropy(x[keep].reshape(-1, c), ids[keep].reshape(-1))
    return dice + ce
rows.append(timed("diceCE [%d,%d,%d,%d,%d]" % (sb, d, sz, sz, c), dice_ce, logits))
print(json.dumps(rows))
`;

function reference(): Row[] {
  const run = spawnSync('/usr/bin/python3', ['-c', PYTHON, JSON.stringify({ supcon: SUPCON, seg: SEG })], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (run.status !== 0) throw new Error(`python reference failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop() as string) as Row[];
}

const wasm = await ours('wasm');
const cpu = await ours('cpu');
const torch = reference();
console.log(
  `| loss (forward + backward, median of ${ITERATIONS}) | tfjs wasm ms | tfjs cpu ms | torch 1 thread ms | |loss − torch| / torch |`,
);
console.log('|---|---|---|---|---|');
for (const t of torch) {
  const w = wasm.find((r) => r.name === t.name);
  const c = cpu.find((r) => r.name === t.name);
  const rel = w ? Math.abs(w.loss - t.loss) / Math.abs(t.loss) : NaN;
  console.log(
    `| ${t.name} | ${w ? w.ms.toFixed(1) : '-'} | ${c ? c.ms.toFixed(1) : '-'} | ${t.ms.toFixed(1)} | ${rel.toExponential(1)} |`,
  );
}
