import { setMaxListeners } from 'node:events';
import pRetry, { AbortError } from 'p-retry';
import type { Logger } from 'pino';
import type { RunReport } from '../bot/job-control.js';
import type { RunDoc } from '../db/collections.js';
import type { RunsRepository } from '../db/repositories/runs.js';
import type { JobContext, JobDefinition, JobResult, RetryPolicy } from './job.js';

/** One run's end, as the bot and the metrics see it. */
export type RunOutcome = RunReport;

export interface ExecuteOptions {
  job: JobDefinition;
  run: RunDoc;
  store: RunsRepository;
  logger: Logger;
  clock: () => Date;
  retry: RetryPolicy;
  timeoutMs: number;
  heartbeatIntervalMs: number;
  /** A claim without heartbeat for this long may be declared abandoned by another instance. */
  leaseMs: number;
  /** Aborted by the runtime's stop(). */
  stopSignal: AbortSignal;
  /** After an abort, how long a job may take before its slowness is logged (it is still awaited). */
  abortGraceMs: number;
}

export class RunTimeoutError extends Error {
  override readonly name = 'RunTimeoutError';
}

export class ClaimLostError extends Error {
  override readonly name = 'ClaimLostError';
}

/**
 * Runs one claimed run to its end: attempts with exponential backoff, a timeout per attempt, a
 * heartbeat that keeps the claim alive, and exactly one outcome written back. It never throws:
 * whatever the job does, the caller gets an outcome and the process keeps running.
 *
 * An attempt is never retried, and the run never finished, while the job's work still runs: an
 * aborted (timed out, stopped) attempt is awaited until it has settled, heartbeats and all, so
 * no second attempt or instance can work beside it.
 */
export async function executeRun(options: ExecuteOptions): Promise<RunOutcome> {
  const { job, run, store, clock, retry } = options;
  const logger = options.logger.child({ job: job.name, runId: run._id, trigger: run.trigger });
  const startedAt = Date.now();
  const claim = new ClaimKeeper(options, logger);
  const runSignal = AbortSignal.any([options.stopSignal, claim.lost]);

  let attempts = 0;
  let result: JobResult | null = null;
  let failure: unknown;
  try {
    result = await pRetry(
      async (attemptNumber) => {
        attempts = attemptNumber;
        if (runSignal.aborted) throw new AbortError(abortReason(runSignal));
        const timeout = attemptTimeout(options.timeoutMs);
        const attemptSignal = AbortSignal.any([runSignal, timeout.signal]);
        // Every call a job has in flight listens to this signal; dozens at once are expected.
        setMaxListeners(1_000, attemptSignal);
        const ctx: JobContext = {
          job: job.name,
          runId: run._id,
          trigger: run.trigger,
          slot: run.slot,
          now: clock(),
          clock,
          signal: attemptSignal,
          logger,
          attempt: attemptNumber,
          dryRun: false,
          confirmClaim: () => claim.confirm(),
        };
        const slowAfterAbort = watchWindDown(attemptSignal, options.abortGraceMs, logger);
        try {
          const value = await job.run(ctx);
          // A job that noticed the timeout and returned early did not finish its work.
          if (timeout.signal.aborted && !runSignal.aborted) throw timeout.signal.reason;
          // Kept here too: p-retry rejects a success that lands after the abort.
          result = value;
          return value;
        } catch (error) {
          // Stopping is not a failure worth retrying; a timeout is.
          if (runSignal.aborted) throw new AbortError(abortReason(runSignal));
          throw error;
        } finally {
          slowAfterAbort.dispose();
          timeout.dispose();
        }
      },
      {
        retries: Math.max(0, retry.attempts - 1),
        factor: 2,
        minTimeout: retry.baseDelayMs,
        maxTimeout: retry.maxDelayMs,
        randomize: false,
        signal: runSignal,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          // Stopped (or the claim lost): p-retry rejects here without another attempt, even when
          // the job returned its result, so there is no retry to announce.
          if (runSignal.aborted) return;
          if (retriesLeft > 0) {
            const delayMs = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attemptNumber - 1));
            logger.warn(
              { err: error, attempt: attemptNumber, retriesLeft, delayMs },
              'attempt failed; retrying',
            );
          }
        },
      },
    );
  } catch (error) {
    if (!(runSignal.aborted && result !== null)) failure = error;
  } finally {
    claim.stop();
  }

  // Stopped (or lost its claim) before the end: whatever it did is kept, the rest waits for the next run.
  const interrupted = runSignal.aborted;
  const status: RunOutcome['status'] = interrupted
    ? 'abandoned'
    : failure === undefined
      ? 'succeeded'
      : 'failed';
  const error = interrupted ? abortReason(runSignal) : failure === undefined ? null : describeError(failure);
  const outcome: RunOutcome = {
    runId: run._id,
    job: job.name,
    trigger: run.trigger,
    status,
    attempts,
    durationMs: Date.now() - startedAt,
    result,
    error,
  };

  try {
    // finished_at is the database server's time.
    await store.finish(run._id, { status, attempts, result, error });
  } catch (writeError) {
    logger.error({ err: writeError }, 'could not record the run outcome; will retry before the next claim');
  }

  const line = { status, attempts, durationMs: outcome.durationMs, result: result ?? undefined };
  if (status === 'succeeded') logger.info(line, `${job.name} run succeeded`);
  else if (status === 'abandoned')
    logger.warn({ ...line, reason: error }, `${job.name} run stopped before finishing`);
  else logger.error({ ...line, err: failure }, `${job.name} run failed after ${attempts} attempt(s)`);
  return outcome;
}

/**
 * Keeps the claim alive with heartbeats written in the server's time, and tells the job whether
 * it still holds it. A heartbeat sent less than half a lease ago proves the claim was ours then
 * and cannot have been declared abandoned since (that takes a whole lease of silence); after a
 * stall of the process the elapsed time says so, and the claim is asked again before any more work.
 */
class ClaimKeeper {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private confirmedAt = performance.now();
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly options: ExecuteOptions,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => {
      this.beat().catch((error: unknown) => this.logger.warn({ err: error }, 'heartbeat failed'));
    }, options.heartbeatIntervalMs);
    this.timer.unref();
  }

  get lost(): AbortSignal {
    return this.controller.signal;
  }

  async confirm(): Promise<void> {
    if (this.controller.signal.aborted) throw this.controller.signal.reason;
    if (performance.now() - this.confirmedAt < this.options.leaseMs / 2) return;
    await this.beat();
    if (this.controller.signal.aborted) throw this.controller.signal.reason;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** One heartbeat at a time; a caller arriving during one waits for its answer. */
  private beat(): Promise<void> {
    this.inFlight ??= this.writeBeat().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async writeBeat(): Promise<void> {
    const sentAt = performance.now();
    const stillOurs = await this.options.store.heartbeat(this.options.run._id);
    if (stillOurs) {
      this.confirmedAt = Math.max(this.confirmedAt, sentAt);
      return;
    }
    // A beat that was on its way when the run finished finds the claim no longer running: that is
    // the finish, not a takeover.
    if (this.stopped) return;
    if (!this.controller.signal.aborted) {
      this.logger.error('the run lost its claim (declared abandoned elsewhere); stopping it');
      this.controller.abort(new ClaimLostError('the claim was declared abandoned by another instance'));
    }
  }
}

function attemptTimeout(timeoutMs: number): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new RunTimeoutError(`attempt timed out after ${timeoutMs} ms`)),
    timeoutMs,
  );
  timer.unref();
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}

/**
 * Once the signal aborts, a job should wind down within `graceMs`; one that takes longer is
 * still awaited (its claim stays alive, so nothing runs beside it) but said so in the log.
 */
function watchWindDown(signal: AbortSignal, graceMs: number, logger: Logger): { dispose(): void } {
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    timer = setTimeout(
      () =>
        logger.warn(
          { graceMs, reason: abortReason(signal) },
          'the job is still running after being asked to stop; waiting for it (its claim stays alive)',
        ),
      graceMs,
    );
    timer.unref();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    dispose: () => {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(timer);
    },
  };
}

function abortReason(signal: AbortSignal): string {
  return describeError(signal.reason ?? 'aborted');
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 1_000);
  return String(error).slice(0, 1_000);
}
