import { beforeAll, describe, expect, it } from 'vitest';
import { runCustomLoop } from '../../examples/custom-loop.js';
import { selectBackend } from '../../src/index.js';

beforeAll(async () => {
  await selectBackend({ backend: 'wasm' });
});

describe('examples/custom-loop.ts', () => {
  it("runs a user's own loop on a tiny model and learns the toy task", async () => {
    const { losses, accuracy } = await runCustomLoop({ steps: 30, seed: 1 });
    expect(losses).toHaveLength(30);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.8);
    expect(accuracy).toBe(1);
  });
});
