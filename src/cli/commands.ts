import { backendCommand } from './backend-command.js';
import { baselineCommand } from './baseline-command.js';
import { synthCommand } from './synth-command.js';
import { trainCommand } from './train-command.js';
import { evalCommand } from './eval-command.js';
import { predictCommand } from './predict-command.js';
import { explainCommand } from './explain-command.js';
import type { CliCommand } from './command.js';

/** Every `mrn` sub-command, in the order `mrn --help` lists them. Add new commands here. */
export const COMMANDS: CliCommand[] = [
  backendCommand,
  synthCommand,
  baselineCommand,
  trainCommand,
  evalCommand,
  predictCommand,
  explainCommand,
];
