/** Browser stand-in of `node:fs/promises` (see build/browser-substitutes.ts): every function throws `E_NODE_ONLY`. */

import { nodeOnlyModule } from '../node-only.js';

const fsp = nodeOnlyModule('fs', [
  'readFile',
  'writeFile',
  'mkdir',
  'readdir',
  'rm',
  'stat',
  'lstat',
  'readlink',
  'open',
]);

export const { readFile, writeFile, mkdir, readdir, rm, stat, lstat, readlink, open } = fsp;
export default fsp;
