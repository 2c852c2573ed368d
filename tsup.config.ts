import { defineConfig } from 'tsup';

export default defineConfig({
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
  // tfjs is a peer dependency: the user's instance must be ours, so layers register once.
  external: [
    '@tensorflow/tfjs',
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-layers',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu',
    'onnxruntime-node',
  ],
  shims: true,
});
