import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: one worker per core, each test file in its own process (tfjs backends are global).
    pool: 'forks',
    maxWorkers: 2,
  },
});
