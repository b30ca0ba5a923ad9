import { hostname } from 'node:os';
import { pino } from 'pino';
import { isJobName, JOB_NAMES, type JobName } from '../schedulers/jobs/catalog.js';
import type { RunOutcome } from '../schedulers/run-executor.js';
import { loadConfig } from './config.js';
import { openDatabase } from './database.js';
import { createLogger } from './logger.js';
import { createRedactor } from './redact.js';
import { StartupError } from './startup-error.js';
import { buildCore } from './wiring.js';

/**
 * One-shot runs for operators who schedule with system cron, systemd timers or a Kubernetes
 * CronJob instead of the embedded scheduler:
 *
 *   npm run task -- <job> [--dry-run]
 *
 * Logs go to stderr; the last stdout line is the outcome as JSON. Exit 0 when the run succeeded
 * or was skipped (the job is already running somewhere), 1 otherwise. It claims runs exactly like
 * the embedded scheduler, so it never overlaps with it or with another copy of itself.
 */

const USAGE = `usage: npm run task -- <job> [--dry-run]\njobs: ${JOB_NAMES.join(', ')}`;

function parseArgs(argv: string[]): { job: JobName; dryRun: boolean } | { error: string } {
  const positional = argv.filter((arg) => !arg.startsWith('--'));
  const flags = argv.filter((arg) => arg.startsWith('--'));
  const unknownFlag = flags.find((flag) => flag !== '--dry-run');
  if (unknownFlag) return { error: `unknown option "${unknownFlag}"\n${USAGE}` };
  if (positional.length !== 1) return { error: USAGE };
  const job = positional[0] as string;
  if (!isJobName(job)) return { error: `unknown job "${job}"; valid jobs are: ${JOB_NAMES.join(', ')}` };
  return { job, dryRun: flags.includes('--dry-run') };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if ('error' in args) {
    console.error(args.error);
    return 1;
  }
  const loaded = loadConfig();
  if (!loaded.ok) {
    for (const problem of loaded.problems) console.error(`Configuration error: ${problem}`);
    return 1;
  }
  const { config } = loaded;
  const secrets = [config.botToken, config.mongodb.uri];
  const logger = createLogger({
    level: config.log.level,
    format: config.log.format === 'pretty' ? 'pretty' : 'json',
    secrets,
    destination: pino.destination(2),
    base: { component: 'task-cli' },
  });

  let opened: Awaited<ReturnType<typeof openDatabase>>;
  try {
    opened = await openDatabase(config, logger);
  } catch (error) {
    console.error(createRedactor(secrets)(error instanceof Error ? error.message : String(error)));
    return 1;
  }
  let closeBudget = () => {};
  try {
    const { runtime, rateBudget } = buildCore({
      config,
      database: opened.database,
      logger,
      instanceId: `cli:${hostname()}:${process.pid}`,
    });
    closeBudget = () => rateBudget.close();
    const stop = () => void runtime.stop({ timeoutMs: config.scheduler.shutdownTimeoutMs });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);

    // A schedule set while the bot runs decides the message deleter's urgency threshold.
    await runtime.loadSchedules();
    if (args.dryRun) {
      const result = await runtime.dryRun(args.job);
      console.log(JSON.stringify({ job: args.job, status: 'succeeded', dryRun: true, result }));
      return 0;
    }
    const outcome: RunOutcome = await runtime.runNow(args.job, { requestedBy: 'cli' });
    console.log(
      JSON.stringify({
        job: outcome.job,
        status: outcome.status,
        result: outcome.result ?? {},
        runId: outcome.runId,
        attempts: outcome.attempts,
        durationMs: outcome.durationMs,
        ...(outcome.error ? { error: outcome.error } : {}),
        ...(outcome.reason ? { reason: outcome.reason } : {}),
      }),
    );
    return outcome.status === 'succeeded' || outcome.status === 'skipped' ? 0 : 1;
  } catch (error) {
    if (error instanceof StartupError) console.error(createRedactor(secrets)(error.message));
    else logger.error({ err: error }, 'the task failed unexpectedly');
    console.log(JSON.stringify({ job: args.job, status: 'failed', result: {} }));
    return 1;
  } finally {
    closeBudget();
    await opened.close();
  }
}

// Exit explicitly: keep-alive sockets and timers of the HTTP client must not keep a cron job hanging.
process.exit(await main());
