/**
 * `npm run test:chaos -- --runs N [--seed S] [--path P] [--shrink]`: runs the chaos property with
 * N runs (default 2000) from seed S (default: random, printed), in its own vitest configuration.
 * `--path` replays one failing case fast-check reported; `--shrink` lets fast-check shrink a
 * counterexample (slow: every shrink step is a full run).
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '2000' },
    seed: { type: 'string' },
    path: { type: 'string' },
    shrink: { type: 'boolean', default: false },
    'log-level': { type: 'string' },
  },
  allowPositionals: false,
});

const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive whole number, got ${values.runs}`);
  process.exit(2);
}
const seed = values.seed ?? String((Date.now() ^ (Math.random() * 0x7fffffff)) | 0);
if (!/^-?\d+$/.test(seed)) {
  console.error(`--seed must be an integer, got ${seed}`);
  process.exit(2);
}

const env = {
  ...process.env,
  CHAOS_RUNS: String(runs),
  CHAOS_SEED: seed,
  ...(values.path ? { CHAOS_PATH: values.path } : {}),
  ...(values.shrink ? { CHAOS_SHRINK: '1' } : {}),
  ...(values['log-level'] ? { CHAOS_LOG_LEVEL: values['log-level'] } : {}),
};
console.log(`[chaos] ${runs} run(s), seed ${seed}`);
const started = Date.now();
const child = spawn('npx', ['vitest', 'run', '--config', 'vitest.chaos.config.ts'], {
  env,
  stdio: 'inherit',
});
child.on('exit', (code, signal) => {
  console.log(
    `[chaos] ${code === 0 ? 'passed' : 'FAILED'}: ${runs} run(s), seed ${seed}, ${((Date.now() - started) / 60_000).toFixed(1)} min`,
  );
  process.exit(code ?? (signal ? 1 : 0));
});
