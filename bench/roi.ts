/**
 * bench/roi: preprocessing one 300x300x70 PDCAD case (real masks of RJPD_002 from
 * test/fixtures/pdcad-samples, QSM/NM images synthesised from them, stored LAS float32 .nii.gz like the
 * challenge files) into the four MRN ROIs at 224 px: cold (read 4 NIfTI + reorient + NM reference +
 * crop + normalise + resize), through the disk cache (miss = cold + write, hit = read), and the
 * cohort validation of loadPdcadCases for the one case. Side by side: the same pipeline in
 * nibabel + numpy + PyTorch (bench/roi.py), whose QSM ROI tensors and all masks are compared with ours.
 *
 *   npx tsx bench/roi.ts [repeats=3]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRng,
  createVolume,
  loadPdcadCases,
  MRN_ROIS,
  preprocessCase,
  preprocessCaseCached,
  readNifti,
  writeNifti,
  type PreprocessedCase,
} from '../src/index.js';

const repeats = Number(process.argv[2] ?? 3);
const SAMPLE = new URL('../test/fixtures/pdcad-samples/RJPD_002/', import.meta.url);
const root = mkdtempSync(join(tmpdir(), 'mrn-bench-roi-'));
const caseDir = join(root, 'cohort', 'RJPD_002');
mkdirSync(caseDir, { recursive: true });

// Images from the real masks: QSM in ppb per nucleus + smooth background + noise; NM 100 (+ SN 130) + noise.
const PPB = [0, 60, 60, 70, 70, 180, 180, 20, 20, 90, 90, 150, 150, 120, 120, 110, 110];
const qmask = await readNifti(join(SAMPLE.pathname, 'QSM_mask.nii.gz'));
const nmask = await readNifti(join(SAMPLE.pathname, 'NM_mask.nii.gz'));
const rng = createRng(3);
const n = qmask.data.data.length;
const qsm = new Float32Array(n);
const nm = new Float32Array(n);
const [nx, ny] = qmask.shape;
for (let p = 0; p < n; p++) {
  const i = p % nx;
  const j = Math.floor(p / nx) % ny;
  qsm[p] = PPB[qmask.data.data[p]!]! + 15 * Math.sin(i / 11) * Math.cos(j / 17) + rng.normal(0, 8);
  nm[p] = (nmask.data.data[p] ? 130 : 100) + 20 * Math.sin(j / 23) + rng.normal(0, 5);
}
await writeNifti(createVolume(qsm, qmask.shape, qmask.affine, 'QSM'), join(caseDir, 'QSM.nii.gz'));
await writeNifti(createVolume(nm, nmask.shape, nmask.affine, 'NM'), join(caseDir, 'NM.nii.gz'));
copyFileSync(join(SAMPLE.pathname, 'QSM_mask.nii.gz'), join(caseDir, 'QSM_mask.nii.gz'));
copyFileSync(join(SAMPLE.pathname, 'NM_mask.nii.gz'), join(caseDir, 'NM_mask.nii.gz'));
writeFileSync(join(root, 'labels.csv'), 'case,label\nRJPD_002,1\n');

const best = (xs: number[]) => Math.min(...xs);
const timeIt = async <T>(f: () => Promise<T>): Promise<[number, T]> => {
  const t = performance.now();
  const r = await f();
  return [(performance.now() - t) / 1000, r];
};

const tLoad: number[] = [];
let cohort!: Awaited<ReturnType<typeof loadPdcadCases>>;
for (let r = 0; r < repeats; r++) {
  const [t, c] = await timeIt(() =>
    loadPdcadCases(join(root, 'cohort'), { labels: join(root, 'labels.csv') }),
  );
  tLoad.push(t);
  cohort = c;
}
if (cohort.cases.length !== 1)
  throw new Error(`bench: case did not load: ${JSON.stringify(cohort.problems)}`);
const theCase = cohort.cases[0]!;

const tCold: number[] = [];
let cold!: PreprocessedCase;
for (let r = 0; r < repeats; r++) {
  const [t, out] = await timeIt(() => preprocessCase(theCase));
  tCold.push(t);
  cold = out;
}
const tMiss: number[] = [];
const tHit: number[] = [];
let entryBytes = 0;
for (let r = 0; r < repeats; r++) {
  const cacheDir = join(root, `cache-${r}`);
  const [tm, miss] = await timeIt(() => preprocessCaseCached(theCase, {}, { dir: cacheDir }));
  if (miss.hit) throw new Error('bench: expected a cache miss');
  tMiss.push(tm);
  entryBytes = statSync(miss.path).size;
  const [th, hit] = await timeIt(() => preprocessCaseCached(theCase, {}, { dir: cacheDir }));
  if (!hit.hit) throw new Error('bench: expected a cache hit');
  tHit.push(th);
}

// Reference: the same steps in Python; it writes its tensors for comparison.
const py = spawnSync('/usr/bin/python3', ['bench/roi.py', caseDir, String(repeats), root], {
  encoding: 'utf8',
});
if (py.status !== 0) throw new Error(`bench/roi.py failed: ${py.stderr}`);
const ref = JSON.parse(py.stdout.trim().split('\n').pop()!) as { total: number; read: number; torch: string };
const checks: string[] = [];
for (const [idx, roi] of MRN_ROIS.entries()) {
  const mine = cold.rois[idx]!;
  const refMasks = new Int32Array(readFileSync(join(root, `${roi.id}.masks.i32`)).buffer.slice(0));
  let wrong = 0;
  for (let p = 0; p < refMasks.length; p++) if (refMasks[p] !== mine.masks[p]) wrong++;
  let maxDiff = NaN;
  if (roi.image === 'QSM') {
    const refSlices = new Float32Array(readFileSync(join(root, `${roi.id}.slices.f32`)).buffer.slice(0));
    maxDiff = 0;
    for (let p = 0; p < refSlices.length; p++)
      maxDiff = Math.max(maxDiff, Math.abs(refSlices[p]! - mine.slices[p]!));
  }
  checks.push(
    `${roi.id}: ${mine.depth}x224x224, box [${mine.box.start}]-[${mine.box.end}], mask pixels differing ${wrong}/${refMasks.length}` +
      (roi.image === 'QSM'
        ? `, max |slice diff| ${maxDiff.toExponential(1)}`
        : ' (NM intensities: reference not replicated)'),
  );
}
rmSync(root, { recursive: true, force: true });

const ms = (s: number) => (s * 1000).toFixed(0);
const rows = [
  ['validate case (loadPdcadCases, 4 files)', ms(best(tLoad)), '-'],
  ['preprocess cold (4 ROIs at 224)', ms(best(tCold)), ms(ref.total)],
  ['  of which reading 4 .nii.gz', '-', ms(ref.read)],
  ['cache miss (cold + write entry)', ms(best(tMiss)), '-'],
  ['cache hit (read entry)', ms(best(tHit)), '-'],
];
const header = ['step (one 300x300x70 case)', 'mrn ms', 'nibabel+numpy+torch ms'];
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
const line = (r: string[]) => r.map((x, c) => x.padEnd(widths[c]!)).join(' | ');
console.log(
  `best of ${repeats}; node ${process.version}; torch ${ref.torch}; cache entry ${(entryBytes / 1e6).toFixed(2)} MB`,
);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
rows.forEach((r) => console.log(line(r)));
checks.forEach((c) => console.log(c));
