/**
 * The shape of one `mrn` sub-command. Each command lives in its own file under `src/cli/` and is
 * listed in `commands.ts`; `main.ts` only dispatches and maps errors to exit codes.
 */

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MrnError } from '../errors.js';

/** One `mrn` sub-command. */
export interface CliCommand {
  /** The word after `mrn` (e.g. `synth`). */
  name: string;
  /** One line for `mrn --help`. */
  summary: string;
  /** The full `mrn NAME --help` text: usage line, every option with its default (printed by `runCli`). */
  help: string;
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(argv: string[], io: CliIO): Promise<number>;
}

/** Where a command writes; tests pass buffers. */
export interface CliIO {
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * Parses `argv` with node's `parseArgs` (strict), turning its errors into `E_USAGE` {@link MrnError}s
 * that name the command.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new MrnError('E_USAGE', `mrn ${command}: ${(error as Error).message}; see 'mrn ${command} --help'`);
  }
}

/** Parses a required or optional integer option, with a clear error. */
export function intOption(
  command: string,
  name: string,
  value: string | undefined,
  fallback?: number,
): number {
  if (value === undefined) {
    if (fallback === undefined) throw new MrnError('E_USAGE', `mrn ${command}: --${name} is required`);
    return fallback;
  }
  const n = Number(value);
  if (!Number.isInteger(n))
    throw new MrnError('E_USAGE', `mrn ${command}: --${name} must be an integer, got '${value}'`);
  return n;
}

/**
 * Throws the `E_USAGE` {@link MrnError} `mrn COMMAND: --NAME is required` for the first of `names`
 * that is missing (or empty) in the parsed `values`.
 */
export function requireOptions<V extends object, K extends keyof V & string>(
  command: string,
  values: V,
  names: readonly K[],
): asserts values is V & { [P in K]-?: NonNullable<V[P]> } {
  for (const name of names) {
    if (!values[name]) {
      throw new MrnError('E_USAGE', `mrn ${command}: --${name} is required; see 'mrn ${command} --help'`);
    }
  }
}
