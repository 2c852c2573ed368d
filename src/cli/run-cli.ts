import { exitCodeFor, MrnError } from '../errors.js';
import { MRN_VERSION } from '../version.js';
import type { CliIO } from './command.js';
import { COMMANDS } from './commands.js';

const defaultIO: CliIO = { out: (l) => console.log(l), err: (l) => console.error(l) };

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `mrn ${MRN_VERSION}: Parkinson's disease diagnosis from QSM and NM-MRI (MRN method)`,
    '',
    'Usage: mrn <command> [options]     (mrn <command> --help for its options)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Exit codes: 0 ok, 1 unexpected error, 2 usage/config, 3 file not found or I/O, 4 corrupt file,',
    '5 invalid data (grid mismatch, non-finite voxels, missing labels, too few usable cases),',
    '6 weights/checkpoint mismatch, 7 backend or memory, 8 some cases failed (others succeeded).',
  ].join('\n');
}

/**
 * Runs the `mrn` command line with `argv` (the arguments after `mrn`) and resolves to its exit code;
 * errors are printed, never thrown. Exposed for tests and for embedding.
 */
export async function runCli(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.out(MRN_VERSION);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`mrn: unknown command '${name}'. Commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    return exitCodeFor(new MrnError('E_USAGE', ''));
  }
  // Every command's --help is answered here, so commands only parse their own options.
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    const code = error instanceof MrnError ? ` [${error.code}]` : '';
    const message = error instanceof Error ? error.message : String(error);
    // Usage errors already name their command (they are also thrown to library callers).
    const prefix = `mrn ${name}: `;
    io.err(`${message.startsWith(prefix) ? '' : prefix}${message}${code}`);
    if (process.env.MRN_DEBUG && error instanceof Error && error.stack) io.err(error.stack);
    return exitCodeFor(error);
  }
}
