import { backendCommand } from './backend-command.js';
import type { CliCommand } from './command.js';

/** Every `mrn` sub-command, in the order `mrn --help` lists them. Add new commands here. */
export const COMMANDS: CliCommand[] = [backendCommand];
