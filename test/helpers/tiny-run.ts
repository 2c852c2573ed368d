/**
 * A tiny trained run for prediction tests (Node and the browser page's): `mrn train` on a few small
 * synthetic cases (S = 28, random tiny ViT, embed dim 16, one epoch), so a run folder exists as a user
 * gets it, in seconds.
 */

import path from 'node:path';
import { runCli } from '../../src/cli/run-cli.js';
import { makeSyntheticCohort } from '../../src/synth/cohort.js';
import { captureIO } from './cli-io.js';

/** Where {@link trainTinyRun} put things. */
export interface TinyRun {
  /** The run folder (`model.json`, `fold-*\/`, `backbone/`). */
  run: string;
  /** The training cases' folder (one folder per case). */
  data: string;
}

/** Trains a tiny run under `root` with `folds` members (1 or 2) on 8 synthetic cases of seed 4. */
export async function trainTinyRun(root: string, folds: 1 | 2 = 2): Promise<TinyRun> {
  const data = path.join(root, 'train');
  const t = await makeSyntheticCohort({ outDir: data, cases: 8, seed: 4, fov: 'small' });
  const run = path.join(root, 'run');
  const args = ['train', '--data', data, '--labels', t.labelsCsv, '--folds', String(folds), '--epochs', '1'];
  args.push('--size', '28', '--variants', '1', '--embed-dim', '16', '--batch-size', '4', '--out', run);
  const io = captureIO();
  const code = await runCli(args, io.io);
  if (code !== 0) throw new Error(`mrn train failed (${code}):\n${io.err.join('\n')}`);
  return { run, data };
}
