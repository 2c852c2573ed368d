/**
 * Browser stand-in of `node:path` (see build/browser-substitutes.ts). Paths only name files, which
 * the browser build never opens, so every function throws `E_NODE_ONLY`.
 */

import { nodeOnlyModule } from '../node-only.js';

const path = nodeOnlyModule('path', [
  'join',
  'resolve',
  'dirname',
  'basename',
  'extname',
  'relative',
  'normalize',
  'isAbsolute',
]);

export const { join, resolve, dirname, basename, extname, relative, normalize, isAbsolute } = path;
export const sep = '/';
export default { ...path, sep };
