import { defineConfig } from 'vitest/config';

/** The fault-injection suite (`npm run test:faults`): real processes killed, databases stopped. */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // The cases start several processes each; running them one file at a time keeps timings sane.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
