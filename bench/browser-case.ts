/**
 * One case's prediction time: Node on wasm, and a page in headless Chromium on wasm and on webgpu
 * (SwiftShader: WebGPU emulated on the CPU, since this machine has no GPU). The case is synthetic case
 * 0 of seed 1 (full field of view), preprocessed in Node as `mrn predict` does; the model is `mrn
 * train`'s default (random dinov2-test-tiny backbone, MultiRoiNet defaults, seeded), built the same
 * way on each side, so every engine must give the same P(PD).
 *
 *   npx tsx bench/browser-case.ts [--runs 3] [--webgpu-runs 1]
 *
 * Each engine: one warm-up prediction, then `runs` timed ones (median printed). Needs Debian's
 * chromium (apt-get install -y chromium). WebGPU on a real GPU is not measured here.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '../src/backend.js';
import { preprocessCase } from '../src/pdcad/preprocess-case.js';
import { encodeSyntheticCase, generateSyntheticCase } from '../src/synth/cohort.js';
import { bundleForPage, launchChromium, pageHtml } from '../test/browser/chromium.js';
import { serveStatic } from '../test/browser/serve.js';
import { type BenchRoi, median, timePredictions } from './browser-case-model.js';
import type { PageTiming } from './browser-case-page.js';
import { numberOption } from './tools/args.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const RUNS = numberOption('runs', 3);
const WEBGPU_RUNS = numberOption('webgpu-runs', 1);

async function preprocessedCase(): Promise<{ rois: BenchRoi[]; data: Float32Array }> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-bench-case-'));
  try {
    const c = generateSyntheticCase(0, { cases: 1, seed: 1 });
    const files: Record<string, string> = {};
    for (const [name, bytes] of Object.entries(encodeSyntheticCase(c))) {
      files[name.replace('.nii.gz', '')] = path.join(tmp, name);
      writeFileSync(path.join(tmp, name), bytes);
    }
    const pre = await preprocessCase({ id: c.id, label: undefined, files: files as never });
    const total = pre.rois.reduce((n, r) => n + r.slices.length, 0);
    const data = new Float32Array(total);
    const rois: BenchRoi[] = [];
    let offset = 0;
    for (const r of pre.rois) {
      data.set(r.slices, offset);
      rois.push({ roiId: r.roiId, depth: r.depth, size: r.size, valid: Array.from(r.valid), offset });
      offset += r.slices.length;
    }
    return { rois, data };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function inPage(
  rois: BenchRoi[],
  data: Float32Array,
  backends: string,
  runs: number,
): Promise<PageTiming[]> {
  const server = await serveStatic({
    '/': { body: pageHtml('/bench.js'), type: 'text/html' },
    '/bench.js': {
      body: await bundleForPage(path.join(here, 'browser-case-page.ts')),
      type: 'text/javascript',
    },
    '/case.json': { body: JSON.stringify(rois), type: 'application/json' },
    '/case.bin': { body: new Uint8Array(data.buffer), type: 'application/octet-stream' },
    '/wasm/': { dir: path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist') },
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.text().startsWith('[bench]')) console.log(`  page: ${m.text().slice(8)}`);
    });
    await page.goto(`${server.url}/?backends=${backends}&runs=${runs}`);
    await page.waitForFunction(
      () => (globalThis as { __benchResults?: unknown }).__benchResults !== undefined,
      undefined,
      {
        timeout: 0,
        polling: 1000,
      },
    );
    const results = await page.evaluate(() => (globalThis as { __benchResults?: unknown }).__benchResults);
    if (!Array.isArray(results)) throw new Error(`page failed: ${JSON.stringify(results)}`);
    return results as PageTiming[];
  } finally {
    await browser.close();
    await server.close();
  }
}

async function main(): Promise<void> {
  const { rois, data } = await preprocessedCase();
  console.log(`case: ${rois.map((r) => `${r.roiId} ${r.depth}x${r.size}x${r.size}`).join(', ')}`);
  await selectBackend({ backend: 'wasm' });
  const node = await timePredictions(rois, data, RUNS);
  console.log(
    `  node wasm: ${node.ms.map((m) => m.toFixed(0)).join(', ')} ms, P(PD) ${node.probPd.toFixed(6)}`,
  );
  const [pageWasm] = await inPage(rois, data, 'wasm', RUNS);
  const [pageGpu] = await inPage(rois, data, 'webgpu', WEBGPU_RUNS);
  const rows = [
    { engine: 'Node, wasm (stock: 1 thread, SIMD)', t: node },
    {
      engine: `Chromium page, wasm (${pageWasm!.notes.some((n) => n.includes('threaded')) ? 'threaded build' : '1 thread'}, SIMD)`,
      t: pageWasm!,
    },
    { engine: 'Chromium page, webgpu on SwiftShader (CPU)', t: pageGpu! },
  ];
  console.log('\n| engine | prediction of one case, median | runs | P(PD) |\n|---|---:|---:|---:|');
  for (const { engine, t } of rows) {
    console.log(
      `| ${engine} | ${median(t.ms).toLocaleString('en-US', { maximumFractionDigits: 0 })} ms | ${t.ms.length} | ${t.probPd.toFixed(6)} |`,
    );
  }
  const spread = Math.max(...rows.map((r) => r.t.probPd)) - Math.min(...rows.map((r) => r.t.probPd));
  console.log(`\nP(PD) agrees across engines within ${spread.toExponential(2)}`);
  if (!(spread <= 1e-4)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
