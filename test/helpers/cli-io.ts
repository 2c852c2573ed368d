/** A `CliIO` that records what a command prints, for CLI tests. */

import type { CliIO } from '../../src/cli/command.js';

/** A fresh capture: `io` to pass to `runCli`, and the `out` / `err` lines it received. */
export function captureIO(): { io: CliIO; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}
