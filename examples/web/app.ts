/**
 * The page of examples/web (see index.html and docs/browser.md): load a trained run (a dropped or
 * picked folder, or the demo model served beside the page), take a case (a dropped folder, its four
 * files, or a synthetic case made here), predict it and draw P(PD), the ROI slices with the aux
 * segmentation and the attention weights. Everything runs in this page; nothing is sent anywhere.
 *
 * `?backend=wasm|webgpu|cpu` preselects the backend (the browser test uses wasm).
 */

// What `import ... from 'mrn'`, 'mrn/synth' and 'mrn/plots' give a bundler targeting browsers.
import {
  decodeNifti,
  explanationInput,
  loadMrnFromFiles,
  PDCAD_FILE_ROLES,
  preprocessVolumes,
  readBytes,
  selectBackend,
  type BytesSource,
  type CaseVolumes,
  type MrnEnsemble,
  type PdcadFileRole,
} from '../../src/browser.js';
import { caseExplanationSvg } from '../../src/plots/index.js';
import { encodeSyntheticCase, generateSyntheticCase, syntheticCaseId } from '../../src/synth/index.js';

/** Synthetic cases offered per seed (small field of view, as `mrn synth --fov small`). */
const SYNTH_CASES = 10;
/** Where the demo run is served, relative to the page. */
const DEMO_RUN = './dist/demo-run/';
const WASM_PATHS = new URL('./dist/wasm/', location.href).href;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

let ensemble: MrnEnsemble | undefined;
let caseInput: { id: string; files: Map<string, BytesSource> } | undefined;
let backendReady: string | undefined;

/** Shows a step; `fraction` in [0, 1] moves the bar. Yields so the page repaints before heavy work. */
async function progress(text: string, fraction?: number): Promise<void> {
  $('progress-text').textContent = text;
  if (fraction !== undefined) ($('progress') as HTMLProgressElement).value = fraction;
  await new Promise((r) => setTimeout(r, 0));
}

function showError(error: unknown): void {
  const e = error as { code?: string; message?: string; file?: string };
  $('error').textContent =
    `${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}${e.file ? ` (${e.file})` : ''}`;
  console.error(error);
}

/** Selects the backend chosen in the menu (once per choice). */
async function ensureBackend(): Promise<void> {
  const choice = ($('backend') as HTMLSelectElement).value;
  if (backendReady === choice) return;
  await progress(`starting the ${choice} backend`);
  const report = await selectBackend({
    ...(choice === 'auto' ? {} : { backend: choice as 'webgpu' | 'wasm' | 'cpu' }),
    wasmPaths: WASM_PATHS,
  });
  backendReady = choice;
  const skipped = report.skipped.filter((s) => s.status !== 'not-requested');
  $('backend-status').textContent =
    `running on ${report.backend}${report.threads > 1 ? ` (${report.threads} threads)` : ''}` +
    (skipped.length ? `; skipped: ${skipped.map((s) => `${s.backend} (${s.reason})`).join(', ')}` : '');
}

/** Every file under a dropped item, by its path (`run/fold-1/best/model/model.json`). */
async function droppedFiles(items: DataTransferItemList): Promise<Map<string, File>> {
  const out = new Map<string, File>();
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
      out.set(prefix + entry.name, file);
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
      }
    }
  };
  const entries = [...items].map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => !!e);
  for (const e of entries) await walk(e, '');
  return out;
}

/** Files of a file input, by `webkitRelativePath` (a picked folder) or name. */
function inputFiles(input: HTMLInputElement): Map<string, File> {
  return new Map([...(input.files ?? [])].map((f) => [f.webkitRelativePath || f.name, f]));
}

async function loadModel(files: Map<string, File> | string, label: string): Promise<void> {
  $('error').textContent = '';
  try {
    await ensureBackend();
    ensemble?.dispose();
    ensemble = undefined;
    $('model-status').textContent = `loading ${label}…`;
    ensemble = await loadMrnFromFiles(files, { onProgress: (s) => void progress(`loading the model: ${s}`) });
    const prep = ensemble.preprocessing;
    $('model-status').textContent =
      `${label}: ${ensemble.members} member(s), ROIs ${ensemble.roiIds.join(', ')}, slices ${prep.size ?? 224}x${prep.size ?? 224}, backbone ${ensemble.backbone.kind}${ensemble.backbone.preset ? ` (${ensemble.backbone.preset})` : ''}`;
    await progress('model loaded', 0);
  } catch (e) {
    $('model-status').textContent = 'no model loaded';
    showError(e);
  }
  updateButton();
}

/** The case's four files from a set of files (a folder or a multi-select), by their file names. */
function setCase(files: Map<string, File | BytesSource>, fallbackId: string): void {
  $('error').textContent = '';
  const byRole = new Map<string, BytesSource>();
  let id = fallbackId;
  for (const [p, f] of files) {
    const parts = p.split('/');
    const name = parts.at(-1)!;
    const role = PDCAD_FILE_ROLES.find((r) => name === `${r}.nii.gz` || name === `${r}.nii`);
    if (role) {
      byRole.set(role, f);
      if (parts.length > 1) id = parts.at(-2)!;
    }
  }
  const missing = PDCAD_FILE_ROLES.filter((r) => !byRole.has(r));
  if (missing.length) {
    caseInput = undefined;
    $('case-status').textContent = 'no case chosen';
    showError({
      code: 'E_FILE_NOT_FOUND',
      message: `the case lacks ${missing.map((r) => `${r}.nii.gz`).join(', ')}`,
    });
  } else {
    caseInput = { id, files: byRole };
    $('case-status').textContent = `case ${id}: ${PDCAD_FILE_ROLES.map((r) => `${r}.nii(.gz)`).join(', ')}`;
  }
  updateButton();
}

function updateButton(): void {
  ($('predict') as HTMLButtonElement).disabled = !(ensemble && caseInput);
}

async function predict(): Promise<void> {
  if (!ensemble || !caseInput) return;
  $('error').textContent = '';
  for (const id of ['result', 'details', 'explanation', 'download']) $(id).innerHTML = '';
  const started = performance.now();
  try {
    await ensureBackend();
    const volumes = {} as CaseVolumes;
    for (const [k, role] of PDCAD_FILE_ROLES.entries()) {
      await progress(`reading ${role}`, (0.2 * k) / 4);
      const source = caseInput.files.get(role)!;
      const name = source instanceof File ? source.name : `${role}.nii.gz`;
      volumes[role as PdcadFileRole] = decodeNifti(await readBytes(source), { name });
    }
    await progress('preprocessing: reorient, crop the ROIs, normalise, slice', 0.25);
    const pre = preprocessVolumes({ id: caseInput.id, volumes }, ensemble.preprocessing);
    const slices = pre.rois.reduce((n, r) => n + r.depth, 0);
    await progress(`running the backbone on ${slices} slices and ${ensemble.members} model(s)`, 0.4);
    const p = await ensemble.predictPreprocessed(pre, { explain: true });
    await progress('drawing the explanation', 0.9);
    showResult(p, performance.now() - started);
    await progress(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`, 1);
  } catch (e) {
    showError(e);
    await progress('failed', 0);
  }
}

function showResult(p: Awaited<ReturnType<MrnEnsemble['predictPreprocessed']>>, ms: number): void {
  const result = $('result');
  result.dataset.prob = String(p.probPd);
  result.dataset.case = p.caseId;
  result.innerHTML = `${p.caseId}: P(PD) = <span class="prob">${p.probPd.toFixed(3)}</span> (${p.pred ? 'above' : 'below'} 0.5: ${p.pred ? 'PD' : 'healthy control'} by this model)`;
  const rows = [
    `<tr><th>members' P(PD)</th><td>${p.memberProbs.map((x) => x.toFixed(3)).join(', ')}</td></tr>`,
    ...(p.roiAttention
      ? [
          `<tr><th>attention over ROIs</th><td>${Object.entries(p.roiAttention)
            .map(([k, v]) => `${k} ${v.toFixed(3)}`)
            .join(', ')}</td></tr>`,
        ]
      : []),
    `<tr><th>time</th><td>${(ms / 1000).toFixed(1)} s on ${backendReady}</td></tr>`,
  ];
  $('details').innerHTML = `<table>${rows.join('')}</table>`;
  const svg = caseExplanationSvg(explanationInput(p));
  $('explanation').innerHTML = svg;
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  $('download').innerHTML = `<a href="${url}" download="${p.caseId}.explain.svg">Save the figure (SVG)</a>`;
}

function fillSynthCases(): void {
  const select = $('synth-case') as HTMLSelectElement;
  select.innerHTML = Array.from(
    { length: SYNTH_CASES },
    (_, i) => `<option value="${i}">${syntheticCaseId(i)}</option>`,
  ).join('');
}

async function useSynthetic(): Promise<void> {
  const seed = Number(($('synth-seed') as HTMLInputElement).value);
  const index = Number(($('synth-case') as HTMLSelectElement).value);
  await progress(`making synthetic case ${syntheticCaseId(index)} of seed ${seed}`);
  const c = generateSyntheticCase(index, { cases: SYNTH_CASES, seed, fov: 'small' });
  setCase(new Map(Object.entries(encodeSyntheticCase(c))), `${c.id} (synthetic, seed ${seed})`);
  await progress('', 0);
}

function dropZone(id: string, onFiles: (files: Map<string, File>) => void): void {
  const zone = $(id);
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    void droppedFiles(e.dataTransfer!.items).then(onFiles, showError);
  });
}

function main(): void {
  const backend = params.get('backend');
  if (backend) ($('backend') as HTMLSelectElement).value = backend;
  fillSynthCases();
  dropZone('run-drop', (files) => void loadModel(files, 'dropped run'));
  dropZone('case-drop', (files) => setCase(files, 'case'));
  $('run-folder').addEventListener(
    'change',
    (e) => void loadModel(inputFiles(e.target as HTMLInputElement), 'picked run'),
  );
  $('case-folder').addEventListener('change', (e) =>
    setCase(inputFiles(e.target as HTMLInputElement), 'case'),
  );
  $('case-files').addEventListener('change', (e) =>
    setCase(inputFiles(e.target as HTMLInputElement), 'case'),
  );
  $('demo-model').addEventListener('click', () => void loadModel(DEMO_RUN, 'demo model'));
  $('synth-use').addEventListener('click', () => void useSynthetic());
  $('predict').addEventListener('click', () => void predict());
  $('backend').addEventListener('change', () => void ensureBackend().catch(showError));
  document.body.dataset.ready = 'true';
}

main();
