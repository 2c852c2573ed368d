import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { MRN_VERSION } from '../src/index.js';

describe('package', () => {
  it('MRN_VERSION matches package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(MRN_VERSION).toBe(pkg.version);
  });

  it('importing mrn switches no backend', async () => {
    const before = tf.engine().backendName;
    await import('../src/index.js');
    expect(tf.engine().backendName).toBe(before);
    expect(tf.engine().registryFactory['wasm']).toBeUndefined();
  });
});
