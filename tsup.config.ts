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
      // Started by trainMrn's parallel folds (src/train/fold-workers.ts) from next to its own chunk.
      'fold-worker': 'src/train/fold-worker.ts',
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
    // The `browser` conditions of `mrn`, `mrn/synth` and `mrn/plots`: ESM importing no Node built-in
    // (see build/browser-substitutes.ts); shared modules go to shared chunks, so MrnError is one class.
    // The subpaths' types are the Node build's (synth.d.ts, plots.d.ts): the same functions.
    entry: {
      browser: 'src/browser.ts',
      'browser-synth': 'src/synth/index.ts',
      'browser-plots': 'src/plots/index.ts',
    },
    format: ['esm'],
    splitting: true,
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
