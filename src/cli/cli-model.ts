/**
 * What the commands that run a trained model (`eval`, `predict`, `explain`) share: the backend
 * choice, loading the model from `--model`/`--backbone`, and freeing it whatever happens.
 */

import { selectBackend } from '../backend.js';
import { loadMrn, type MrnPredictor } from '../predict/load-mrn.js';
import type { CliIO } from './command.js';

/** Selects the backend the training and model commands use (wasm speed-ups on) and reports it. */
export async function selectCliBackend(io: CliIO): Promise<void> {
  const report = await selectBackend({ optimizeWasm: true });
  io.err(`backend: ${report.backend} (${report.pkg}), ${report.threads} thread(s)`);
}

/**
 * Selects the backend, loads the model at `options.model` (with the `--backbone` override), runs
 * `use` with it and disposes the model afterwards, also when `use` throws.
 */
export async function withCliModel<T>(
  io: CliIO,
  options: { model: string; backbone?: string },
  use: (mrn: MrnPredictor) => Promise<T>,
): Promise<T> {
  await selectCliBackend(io);
  const mrn = await loadMrn(options.model, { backbone: options.backbone });
  try {
    return await use(mrn);
  } finally {
    mrn.dispose();
  }
}
