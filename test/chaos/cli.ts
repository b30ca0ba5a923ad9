/**
 * `npm run test:chaos -- --runs N [--seed S] [--shards K] [--path P] [--shrink]`: runs the chaos
 * property N times (default 2000) in its own vitest configuration.
 *
 * The runs are split over K processes (default 2; a run mostly waits on timers and sockets, so two
 * processes fit on two cores without slowing each other down): shard i runs its share with seed
 * S + i, and each prints its seed. To replay a failure, run its shard alone with the seed it
 * printed: `--shards 1 --seed <shard seed> --runs <its runs>`, plus `--path P` from fast-check's
 * report to jump straight to the failing case. `--shrink` lets fast-check shrink a counterexample
 * (slow: every shrink step is a full run).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '2000' },
    seed: { type: 'string' },
    shards: { type: 'string', default: '2' },
    path: { type: 'string' },
    shrink: { type: 'boolean', default: false },
    'log-level': { type: 'string' },
  },
  allowPositionals: false,
});

const runs = Number(values.runs);
const shards = Number(values.shards);
const seed = Number(values.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0);
for (const [name, value, ok] of [
  ['--runs', values.runs, Number.isInteger(runs) && runs >= 1],
  ['--shards', values.shards, Number.isInteger(shards) && shards >= 1 && shards <= 8],
  ['--seed', values.seed, Number.isInteger(seed)],
] as const) {
  if (!ok) {
    console.error(`${name} must be a whole number (shards 1-8, runs at least 1), got ${value}`);
    process.exit(2);
  }
}
if (values.path !== undefined && shards !== 1) {
  console.error('--path replays one case of one shard: use it with --shards 1 and that shard seed');
  process.exit(2);
}

const started = Date.now();
console.log(`[chaos] ${runs} run(s) over ${Math.min(shards, runs)} process(es), seed ${seed}`);
const shares = Array.from(
  { length: Math.min(shards, runs) },
  (_, i) => Math.floor(runs / shards) + (i < runs % shards ? 1 : 0),
);
const results = await Promise.all(
  shares.map(
    (share, i) =>
      new Promise<{ shard: number; seed: number; runs: number; code: number }>((resolve) => {
        const shardSeed = seed + i;
        const child = spawn('npx', ['vitest', 'run', '--config', 'vitest.chaos.config.ts'], {
          env: {
            ...process.env,
            CHAOS_RUNS: String(share),
            CHAOS_SEED: String(shardSeed),
            ...(values.path ? { CHAOS_PATH: values.path } : {}),
            ...(values.shrink ? { CHAOS_SHRINK: '1' } : {}),
            ...(values['log-level'] ? { CHAOS_LOG_LEVEL: values['log-level'] } : {}),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const prefix = shares.length > 1 ? `[shard ${i}] ` : '';
        for (const stream of [child.stdout, child.stderr]) {
          createInterface({ input: stream }).on('line', (line) => console.log(`${prefix}${line}`));
        }
        child.on('exit', (code) => resolve({ shard: i, seed: shardSeed, runs: share, code: code ?? 1 }));
      }),
  ),
);
const minutes = (Date.now() - started) / 60_000;
for (const result of results) {
  console.log(
    `[chaos] shard ${result.shard}: ${result.runs} run(s), seed ${result.seed}: ${result.code === 0 ? 'passed' : 'FAILED'}`,
  );
}
const failed = results.some((result) => result.code !== 0);
console.log(
  `[chaos] ${failed ? 'FAILED' : 'passed'}: ${runs} run(s), seed ${seed}, ${minutes.toFixed(1)} min (${(runs / minutes).toFixed(0)} runs/min)`,
);
process.exit(failed ? 1 : 0);
