/**
 * Shared by test/browser/run.ts and bench/browser-case.ts: bundling a page script (the browser entry's
 * substitutes included) and launching Debian's Chromium headless with WebGPU on SwiftShader.
 */

import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { browserSubstitutes } from '../../build/browser-substitutes.js';

/** Debian's chromium; `MRN_CHROMIUM` overrides. */
export const CHROMIUM = process.env.MRN_CHROMIUM ?? '/usr/bin/chromium';

/** WebGPU through Vulkan on SwiftShader (the CPU), so the webgpu backend runs on a machine without a GPU. */
export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--use-angle=swiftshader',
  // CI runs as root, where Chromium's sandbox cannot start.
  '--no-sandbox',
];

/** Bundles `entry` and everything it imports (tfjs included) into one ESM script for a page. */
export async function bundleForPage(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'warning',
    plugins: [browserSubstitutes()],
  });
  return result.outputFiles[0]!.text;
}

/** Launches headless Chromium with {@link CHROMIUM_FLAGS}; says how to install it when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: apt-get install -y chromium (or set MRN_CHROMIUM to a Chromium binary)`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

/** The page that runs one module script. */
export function pageHtml(script: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>mrn</title></head><body><script type="module" src="${script}"></script></body></html>`;
}
