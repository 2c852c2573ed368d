/**
 * `npm run test:browser`: bundles test/browser/suite.ts, serves it with the test fixtures and the wasm
 * binaries on 127.0.0.1, runs it in headless Chromium (WebGPU on SwiftShader), then drives the
 * examples/web page end to end (test/browser/web-page.ts), and exits 1 unless every check passed.
 * Prints each check as it finishes.
 */

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckResult, PageResults } from './harness.js';
import { bundleForPage, launchChromium, pageHtml } from './chromium.js';
import { serveStatic } from './serve.js';
import { checkWebPage, WEB_PAGE_CHECK } from './web-page.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
/** The whole suite must finish in this time (CI budget: 3 minutes on a quiet 2-core machine). */
const TIMEOUT_MS = Number(process.env.MRN_BROWSER_TIMEOUT_MS ?? 600_000);

async function main(): Promise<number> {
  const started = Date.now();
  const script = await bundleForPage(path.join(here, 'suite.ts'));
  const server = await serveStatic({
    '/': { body: pageHtml('/suite.js'), type: 'text/html' },
    '/suite.js': { body: script, type: 'text/javascript' },
    '/fixtures/': { dir: path.join(root, 'test/fixtures') },
    '/wasm/': { dir: path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist') },
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.text().startsWith('[mrn]')) console.log(m.text().slice(6));
    });
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    const only = process.env.MRN_BROWSER_ONLY;
    await page.goto(`${server.url}/${only ? `?only=${encodeURIComponent(only)}` : ''}`);
    await page.waitForFunction(
      () => (globalThis as { __mrnResults?: PageResults }).__mrnResults?.done === true,
      undefined,
      {
        timeout: TIMEOUT_MS,
        polling: 500,
      },
    );
    const results = (await page.evaluate(
      () => (globalThis as { __mrnResults?: PageResults }).__mrnResults!.results,
    )) as CheckResult[];
    // The example page, driven as a user would (its own server and tab; test/browser/web-page.ts).
    if (!only || new RegExp(only).test(WEB_PAGE_CHECK)) {
      const web = await checkWebPage(browser);
      console.log(`${web.ok ? 'ok  ' : 'FAIL'} ${web.name} (${web.ms} ms): ${web.detail.split('\n')[0]}`);
      results.push(web);
    }
    const wasmCheck = results.find((r) => r.name.startsWith('selectBackend({ backend: "wasm" })'));
    // The page is served cross-origin isolated, so tfjs must have loaded its threaded wasm build.
    if (wasmCheck?.ok && !server.requests.includes('/wasm/tfjs-backend-wasm-threaded-simd.wasm')) {
      wasmCheck.ok = false;
      wasmCheck.detail += `\nthe threaded wasm binary was not fetched (requests: ${server.requests.filter((r) => r.startsWith('/wasm/')).join(', ')})`;
    }
    const failed = results.filter((r) => !r.ok);
    for (const f of failed) console.error(`\nFAILED: ${f.name}\n${f.detail}`);
    console.log(
      `\nbrowser tests: ${results.length - failed.length} passed, ${failed.length} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    return failed.length === 0 && results.length > 0 ? 0 : 1;
  } finally {
    await browser.close();
    await server.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
