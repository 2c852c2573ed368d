import { selectBackend } from '../backend.js';
import type { CliCommand } from './command.js';
import { parseCommandArgs } from './command.js';

/** `mrn backend`: prints which tfjs backend mrn selects here and why. */
export const backendCommand: CliCommand = {
  name: 'backend',
  summary: 'show which tfjs backend mrn selects on this machine, and why',
  help: `Usage: mrn backend [--json]

Selects a backend exactly as the library does (tfjs-node-gpu, tfjs-node, wasm, cpu; MRN_BACKEND
forces one) and prints the choice, its thread count and why earlier candidates were skipped.

Options:
  --json   print the report as JSON
  --help   show this help`,
  async run(argv, io) {
    const { values } = parseCommandArgs('backend', argv, {
      json: { type: 'boolean' },
    });
    const report = await selectBackend();
    if (values.json) {
      io.out(JSON.stringify(report, null, 2));
      return 0;
    }
    io.out(
      `backend: ${report.backend} (${report.pkg}), threads: ${report.threads}${report.simd ? ', simd' : ''}`,
    );
    for (const s of report.skipped) io.out(`  skipped ${s.pkg}: ${s.reason}`);
    for (const n of report.notes) io.out(`  note: ${n}`);
    return 0;
  },
};
