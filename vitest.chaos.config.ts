import { defineConfig } from 'vitest/config';

/**
 * The long chaos profile (`npm run test:chaos -- --runs N [--seed S]`): only the chaos property,
 * which owns its MongoDB emulator and fake Bot API (no global database setup).
 */
const runs = Number(process.env.CHAOS_RUNS ?? 24);

export default defineConfig({
  test: {
    include: ['test/chaos/deletion-promise.chaos.test.ts'],
    pool: 'forks',
    testTimeout: Math.max(120_000, runs * 15_000),
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
