/**
 * The page of bench/browser-case.ts: fetches the preprocessed case, then times its prediction on the
 * backends the page is asked for (`?backends=wasm,webgpu`) and leaves the results on
 * `window.__benchResults`.
 */

import * as tf from '@tensorflow/tfjs';
import { readBytes, selectBackend } from '../src/browser.js';
import { type BenchRoi, timePredictions } from './browser-case-model.js';

/** One backend's timings in the page. */
export interface PageTiming {
  backend: string;
  ms: number[];
  probPd: number;
  threads: number;
  notes: string[];
}

async function main(): Promise<void> {
  const params = new URLSearchParams(
    (globalThis as unknown as { location: { search: string } }).location.search,
  );
  const runs = Number(params.get('runs') ?? 3);
  const rois = JSON.parse(new TextDecoder().decode(await readBytes('/case.json'))) as BenchRoi[];
  const bytes = await readBytes('/case.bin');
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const results: PageTiming[] = [];
  for (const backend of (params.get('backends') ?? 'wasm,webgpu').split(',')) {
    const report = await selectBackend({ backend: backend as 'wasm' | 'webgpu', wasmPaths: '/wasm/' });
    console.log(`[bench] ${tf.getBackend()}: ${report.notes.join('; ')}`);
    const t = await timePredictions(rois, data, runs);
    results.push({ backend, ...t, threads: report.threads, notes: report.notes });
    console.log(
      `[bench] ${backend}: ${t.ms.map((m) => m.toFixed(0)).join(', ')} ms, P(PD) ${t.probPd.toFixed(6)}`,
    );
  }
  (globalThis as { __benchResults?: PageTiming[] }).__benchResults = results;
}

main().catch((e: unknown) => {
  console.log(`[bench] error ${(e as Error).stack ?? String(e)}`);
  (globalThis as { __benchResults?: unknown }).__benchResults = { error: String(e) };
});
