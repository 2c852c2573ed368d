import { defineConfig } from 'tsup';
import { browserSubstitutes } from './build/browser-substitutes.js';

// tfjs is a peer dependency: the user's instance must be ours, so layers register once.
const external = [
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-layers',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-webgpu',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  'onnxruntime-node',
  'webgpu',
];

export default defineConfig([
  {
    // The root API plus the subpaths `mrn/synth` and `mrn/plots` (package.json `exports`).
    entry: {
      index: 'src/index.ts',
      synth: 'src/synth/index.ts',
      plots: 'src/plots/index.ts',
      cli: 'src/cli/main.ts',
    },
    format: ['esm', 'cjs'],
    dts: { entry: { index: 'src/index.ts', synth: 'src/synth/index.ts', plots: 'src/plots/index.ts' } },
    // Shared modules go to shared chunks in CJS too (esbuild splits ESM by default): one MrnError class
    // for `instanceof` across the root and the subpaths, one copy of each module.
    splitting: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    external,
    shims: true,
  },
  {
    // The `browser` condition: one ESM file importing no Node built-in (see build/browser-substitutes.ts).
    entry: { browser: 'src/browser.ts' },
    format: ['esm'],
    dts: { entry: { browser: 'src/browser.ts' } },
    sourcemap: true,
    clean: false,
    target: 'es2022',
    platform: 'browser',
    // Keep `node:` on imports so a leak is visible (and fails the bundle check) instead of becoming `fs`.
    removeNodeProtocol: false,
    external,
    esbuildPlugins: [browserSubstitutes()],
  },
]);
