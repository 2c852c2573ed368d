/**
 * Browser stand-in of `node:crypto` (see build/browser-substitutes.ts). mrn hashes files and caches
 * (checkpoint checksums, cache keys) only in Node; `createHash` throws `E_NODE_ONLY`.
 */

import { nodeOnlyModule } from '../node-only.js';

const crypto = nodeOnlyModule('crypto', ['createHash']);

export const { createHash } = crypto;
export default crypto;
