import { defineConfig } from 'vitest/config';

// The threaded-wasm start-up test runs after everything else, alone: under the load of a parallel
// wasm test file its pthread workers occasionally did not answer within the 60 s start-up timeout
// (the library then falls back to one thread, which the test rightly reports as a failure).
const THREADS_TEST = 'test/wasm/threads.test.ts';
// The same for the test that hangs a threaded start on purpose, after that one.
const THREADS_RESTART_TEST = 'test/wasm/optimize.threads-restart.test.ts';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: one worker per core, each test file in its own process (tfjs backends are global).
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          // The SIGKILL crash test starts seven training processes: its own CI step (npm run test:crash).
          // test/browser/ is the Chromium suite of `npm run test:browser`, not vitest files.
          exclude: [THREADS_TEST, THREADS_RESTART_TEST, 'test/crash/**', 'test/browser/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'wasm-threads', include: [THREADS_TEST], sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: { name: 'wasm-threads-restart', include: [THREADS_RESTART_TEST], sequence: { groupOrder: 2 } },
      },
      // Only with MRN_CRASH_TEST=1 (npm run test:crash).
      ...(process.env.MRN_CRASH_TEST === '1'
        ? [{ extends: true as const, test: { name: 'crash', include: ['test/crash/**/*.test.ts'] } }]
        : []),
    ],
  },
});
