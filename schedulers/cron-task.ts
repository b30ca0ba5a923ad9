import cron, { type ScheduledTask, type TaskContext } from 'node-cron';
import type { Logger } from 'pino';

/** What the runtime does at each moment of a node-cron task's life. */
export interface CronTaskHooks {
  /** node-cron's distributed hook, before each tick: true when this instance claimed the slot. */
  claim(key: string): Promise<boolean>;
  /** Runs the slot this instance claimed. */
  run(slot: Date): Promise<void>;
  /** A tick came while this process's previous run was still going (node-cron's noOverlap). */
  overlapped(slot: Date): void;
  /** A tick came more than a second late (the process stalled): node-cron did not run it. */
  missed(slot: Date): void;
}

/**
 * One job's schedule on node-cron: distributed mode asks `claim` before each tick, noOverlap keeps
 * a tick from starting while the previous run goes on, and node-cron's own logging goes to pino.
 */
export function startCronTask(
  name: string,
  schedule: string,
  timezone: string,
  logger: Logger,
  hooks: CronTaskHooks,
): ScheduledTask {
  const task = cron.createTask(schedule, (ctx: TaskContext) => hooks.run(ctx.date), {
    name,
    timezone,
    noOverlap: true,
    distributed: true,
    runCoordinator: { shouldRun: (key) => hooks.claim(key) },
    logger: {
      info: (message) => logger.debug(message),
      warn: (message) => logger.debug(message),
      error: (message, error) => logger.error({ err: error ?? message }, String(message)),
      debug: (message) => logger.debug(String(message)),
    },
  });
  task.on('execution:overlap', (ctx) => hooks.overlapped(ctx.date));
  task.on('execution:missed', (ctx) => hooks.missed(ctx.date));
  task.on('execution:skipped', (ctx) => {
    if (ctx.reason === 'coordinator-error') {
      logger.error({ slot: ctx.date.toISOString(), err: ctx.error }, `${name}: could not claim the slot`);
    }
  });
  void task.start();
  return task;
}
