/**
 * The benches' command-line options: `--name value` pairs read from `process.argv`.
 */

/** The value after `--name` in `argv`, or `fallback` when the option (or its value) is absent. */
export function optionValue(
  name: string,
  fallback: string,
  argv: readonly string[] = process.argv.slice(2),
): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
}

/** {@link optionValue} as a number; a value that is not a finite number is an error, not NaN. */
export function numberOption(name: string, fallback: number, argv?: readonly string[]): number {
  const text = optionValue(name, String(fallback), argv);
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, got '${text}'`);
  return value;
}
