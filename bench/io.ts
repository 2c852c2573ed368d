/**
 * bench/io: read + reorient + resample a 300x300x70 float32 QSM-like volume (0.667x0.667x2 mm, LAS,
 * as the challenge files) to 1 mm isotropic. mrn vs nibabel + scipy.ndimage, same run, same file.
 *
 *   npx tsx bench/io.ts [repeats=3]
 *
 * Times are the best of `repeats`; ours and the Python side (bench/io.py, spawned with /usr/bin/python3,
 * timed inside Python) alternate so that load from other jobs hits both alike. Both resampled results
 * are compared voxel by voxel.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRng,
  createVolume,
  readNifti,
  reorientToCanonical,
  resampleToSpacing,
  writeNifti,
} from '../src/index.js';

const repeats = Number(process.argv[2] ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'mrn-bench-io-'));

/** A QSM-like volume: smooth blobs (ppb) plus noise, zero outside a head ellipsoid. */
function makeQsm(): Float32Array {
  const [nx, ny, nz] = [300, 300, 70];
  const rng = createRng(7);
  const v = new Float32Array(nx * ny * nz);
  let o = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, o++) {
        const x = (i - 150) / 120;
        const y = (j - 150) / 140;
        const z = (k - 35) / 40;
        if (x * x + y * y + z * z > 1) continue;
        const blob = 80 * Math.exp(-((i - 130) ** 2 + (j - 160) ** 2) / 200 - (k - 30) ** 2 / 20);
        v[o] = blob + 20 * Math.sin(i / 9) * Math.cos(j / 13) + 15 * (rng.next() - 0.5);
      }
    }
  }
  return v;
}

function ours(path: string) {
  const t0 = performance.now();
  return readNifti(path).then((vol) => {
    const t1 = performance.now();
    const can = reorientToCanonical(vol);
    const t2 = performance.now();
    const out = resampleToSpacing(can, 1);
    const t3 = performance.now();
    return { times: [t1 - t0, t2 - t1, t3 - t2, t3 - t0].map((t) => t / 1000), out };
  });
}

const affine = [
  [-2 / 3, 0, 0, 100],
  [0, 2 / 3, 0, -100],
  [0, 0, 2, -70],
  [0, 0, 0, 1],
];
const rows: string[][] = [];
for (const ext of ['nii.gz', 'nii']) {
  const path = join(dir, `QSM.${ext}`);
  await writeNifti(createVolume(makeQsm(), [300, 300, 70], affine, 'QSM'), path, { gzip: ext === 'nii.gz' });
  // ours and Python alternate, one repeat each, so load from other jobs hits both alike
  let best: number[] | undefined;
  let out;
  let ref: (Record<string, number> & { shape: number[] }) | undefined;
  const refPath = join(dir, 'ref.f32');
  for (let r = 0; r < repeats; r++) {
    const res = await ours(path);
    best = best ? best.map((b, i) => Math.min(b, res.times[i]!)) : res.times;
    out = res.out;
    const py = spawnSync('/usr/bin/python3', ['bench/io.py', path, '1', refPath], { encoding: 'utf8' });
    if (py.status !== 0) throw new Error(`bench/io.py failed: ${py.stderr}`);
    const now = JSON.parse(py.stdout.trim().split('\n').pop()!) as Record<string, number> & {
      shape: number[];
    };
    if (ref) for (const k of ['read', 'reorient', 'resample', 'total']) now[k] = Math.min(now[k]!, ref[k]!);
    ref = now;
  }
  ref = ref!;
  const refValues = new Float32Array(readFileSync(refPath).buffer.slice(0));
  const mine = out!.data.data as Float32Array;
  let maxDiff = 0;
  for (let i = 0; i < mine.length; i++) maxDiff = Math.max(maxDiff, Math.abs(mine[i]! - refValues[i]!));
  const sameShape = ref.shape.join('x') === out!.shape.join('x') && refValues.length === mine.length;
  const stages = ['read', 'reorient', 'resample', 'total'];
  stages.forEach((s, i) => {
    const p = ref[s]!;
    rows.push([
      `${ext} ${s}`,
      (best![i]! * 1000).toFixed(0),
      (p * 1000).toFixed(0),
      (p / best![i]!).toFixed(2),
    ]);
  });
  rows.push([
    `${ext} check`,
    `out ${out!.shape.join('x')}`,
    `out ${ref.shape.join('x')}`,
    sameShape ? `max |diff| ${maxDiff.toExponential(1)} ppb` : 'SHAPE MISMATCH',
  ]);
}
rmSync(dir, { recursive: true, force: true });

const header = ['stage (300x300x70 f32 -> 1 mm)', 'mrn ms', 'nibabel+scipy ms', 'python/mrn'];
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
const line = (r: string[]) => r.map((x, c) => x.padEnd(widths[c]!)).join(' | ');
console.log(`best of ${repeats}; node ${process.version}`);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
rows.forEach((r) => console.log(line(r)));
