/**
 * Builds the page's script: examples/web/app.ts and everything it imports (mrn's browser entry, tfjs)
 * bundled into one ESM file, with the browser entry's stand-ins for Node built-ins
 * (build/browser-substitutes.ts), exactly as dist/browser.js is built.
 */

import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { browserSubstitutes } from '../../build/browser-substitutes.js';

/** examples/web. */
export const WEB_DIR = path.dirname(fileURLToPath(import.meta.url));
/** The tfjs wasm binaries the page's wasm backend fetches. */
export const WASM_DIR = path.resolve(WEB_DIR, '../../node_modules/@tensorflow/tfjs-backend-wasm/dist');

/** The page script (app.ts bundled), as text. */
export async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [path.join(WEB_DIR, 'app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'warning',
    plugins: [browserSubstitutes()],
  });
  return result.outputFiles[0]!.text;
}
