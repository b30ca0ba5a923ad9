/**
 * Replays one chaos schedule outside vitest and prints what happened (for failures):
 *
 *   npx tsx test/chaos/replay.ts /tmp/chaos-<seed>-<time>.log   # the schedule of a failed run
 *   npx tsx test/chaos/replay.ts 42                             # the schedule fast-check draws from seed 42
 *
 * SHOW_LOGS=1 prints the instances' log lines (CHAOS_LOG_LEVEL=info|debug for more), SHOW_CALLS=1
 * the fake Bot API's call log. Timing differs from run to run: the schedule is replayed, not the
 * interleaving.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { type Schedule, scheduleArbitrary } from '../support/chaos/schedule.js';
import { ChaosWorld } from '../support/chaos/world.js';

const arg = process.argv[2] ?? '1';
let schedule: Schedule;
if (/^-?\d+$/.test(arg)) {
  const [sample] = fc.sample(scheduleArbitrary(), { seed: Number(arg), numRuns: 1 });
  schedule = sample as Schedule;
} else {
  const text = readFileSync(arg, 'utf8');
  schedule = (JSON.parse(text.slice(0, text.indexOf('\n}\n') + 2)) as { schedule: Schedule }).schedule;
}
for (const step of schedule.steps) console.log(JSON.stringify(step));
const world = await ChaosWorld.create(schedule);
const t0 = Date.now();
const result = await world.execute();
console.log(JSON.stringify(result.stats));
console.log(result.violations.length === 0 ? 'all invariants hold' : result.violations.join('\n'));
for (const e of world.executions) {
  console.log(
    `${e.instance} ${e.job} ${e.runId.slice(-6)} attempt ${e.attempt}: ${e.start - t0}..${(e.end ?? 0) - t0} ms`,
  );
}
console.log('kills', [...world.kills].map(([i, t]) => `${i}@${t - t0}`).join(' '));
console.log(
  'stalls',
  world.stalls.map((s) => `${s.instance}@${s.start - t0}..${(s.end ?? 0) - t0}`).join(' '),
);
console.log('outages', world.outages.map((s) => `${s.start - t0}..${(s.end ?? 0) - t0}`).join(' '));
if (process.env.SHOW_LOGS) console.log(result.logs.join('\n'));
if (process.env.SHOW_CALLS) {
  const base = world.fake.calls[0]?.time ?? 0;
  for (const c of world.fake.calls) {
    console.log(`${c.time - base} ${c.method} ${c.status} ${JSON.stringify(c.params).slice(0, 100)}`);
  }
}
process.exit(result.violations.length === 0 ? 0 : 1);
