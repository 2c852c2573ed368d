/** Browser stand-in of `node:fs` (see build/browser-substitutes.ts): every function throws `E_NODE_ONLY`. */

import { nodeOnlyModule } from '../node-only.js';

const fs = nodeOnlyModule('fs', [
  'existsSync',
  'statSync',
  'lstatSync',
  'readFileSync',
  'writeFileSync',
  'mkdirSync',
  'mkdtempSync',
  'readdirSync',
  'renameSync',
  'rmSync',
  'unlinkSync',
  'openSync',
  'closeSync',
  'fsyncSync',
  'writeSync',
  'readSync',
  'realpathSync',
  'copyFileSync',
]);

export const { existsSync, statSync, lstatSync, readFileSync, writeFileSync, mkdirSync, mkdtempSync } = fs;
export const { readdirSync, renameSync, rmSync, unlinkSync, openSync, closeSync, fsyncSync } = fs;
export const { writeSync, readSync, realpathSync, copyFileSync } = fs;
export default fs;
