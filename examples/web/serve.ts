/**
 * `npm run web`: builds the page (examples/web/dist/app.js and the wasm binaries beside it), trains the
 * demo model on synthetic cases the first time (examples/web/dist/demo-run/, a minute or two), and
 * serves examples/web on http://127.0.0.1:8080 (`--port N`). The server only hands out these static
 * files: everything else happens in the page. `--build-only` stops after building (then serve
 * examples/web with any static server; threaded wasm needs the COOP/COEP headers this one sends).
 * `--no-demo` skips the demo model.
 */

import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../src/cli/run-cli.js';
import { makeSyntheticCohort } from '../../src/synth/cohort.js';
import { serveStatic } from '../../test/browser/serve.js';
import { bundlePage, WASM_DIR, WEB_DIR } from './build.js';

const argv = process.argv.slice(2);
const port = argv.includes('--port') ? Number(argv[argv.indexOf('--port') + 1]) : 8080;
const dist = path.join(WEB_DIR, 'dist');

/** Trains the demo run: `mrn train` on 16 small synthetic cases (S = 56, random tiny ViT, 2 folds). */
async function trainDemo(out: string): Promise<void> {
  const tmp = path.join(os.tmpdir(), `mrn-web-demo-${process.pid}`);
  try {
    const cohort = await makeSyntheticCohort({ outDir: tmp, cases: 16, seed: 3, fov: 'small' });
    const args = ['train', '--data', tmp, '--labels', cohort.labelsCsv, '--folds', '2', '--epochs', '3'];
    args.push('--size', '56', '--variants', '1', '--embed-dim', '32', '--batch-size', '4', '--out', out);
    const code = await runCli(args, { out: (l) => console.log(`  ${l}`), err: () => {} });
    if (code !== 0) throw new Error(`training the demo model failed (exit ${code})`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  mkdirSync(path.join(dist, 'wasm'), { recursive: true });
  writeFileSync(path.join(dist, 'app.js'), await bundlePage());
  for (const f of readdirSync(WASM_DIR).filter((n) => n.endsWith('.wasm')))
    copyFileSync(path.join(WASM_DIR, f), path.join(dist, 'wasm', f));
  console.log(`built ${path.relative(process.cwd(), dist)}/app.js and wasm/`);
  const demo = path.join(dist, 'demo-run');
  if (!argv.includes('--no-demo') && !existsSync(path.join(demo, 'model.json'))) {
    console.log('training the demo model on synthetic cases (once; a minute or two)…');
    await trainDemo(demo);
  }
  if (argv.includes('--build-only')) return;
  const server = await serveStatic(
    {
      '/': { body: readFileSync(path.join(WEB_DIR, 'index.html')), type: 'text/html' },
      '/dist/': { dir: dist },
    },
    port,
  );
  console.log(`serving examples/web on ${server.url}/ (Ctrl-C stops; the page sends nothing anywhere)`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
