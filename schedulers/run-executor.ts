import { setMaxListeners } from 'node:events';
import pRetry, { AbortError } from 'p-retry';
import type { Logger } from '../src/logger.js';
import type { JobContext, JobDefinition, JobResult, RetryPolicy, RunStatus } from './job.js';
import type { RunDoc, RunStore } from './run-store.js';

export interface RunOutcome {
  runId: string;
  job: string;
  trigger: RunDoc['trigger'];
  status: Exclude<RunStatus, 'running'>;
  attempts: number;
  durationMs: number;
  result: JobResult | null;
  error: string | null;
  /** For skipped runs: what held the job. */
  reason?: string;
}

export interface ExecuteOptions {
  job: JobDefinition;
  run: RunDoc;
  store: RunStore;
  logger: Logger;
  clock: () => Date;
  retry: RetryPolicy;
  timeoutMs: number;
  heartbeatIntervalMs: number;
  /** Aborted by the runtime's stop(). */
  stopSignal: AbortSignal;
  /** After an abort, how long the job may take to finish its current batch before it is left behind. */
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
 */
export async function executeRun(options: ExecuteOptions): Promise<RunOutcome> {
  const { job, run, store, clock, retry } = options;
  const logger = options.logger.child({ job: job.name, runId: run._id, trigger: run.trigger });
  const startedAt = Date.now();
  const claimLost = new AbortController();
  const runSignal = AbortSignal.any([options.stopSignal, claimLost.signal]);
  const heartbeat = startHeartbeat(options, logger, claimLost);

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
          signal: attemptSignal,
          logger,
          attempt: attemptNumber,
          dryRun: false,
        };
        try {
          const value = await untilAborted(job.run(ctx), attemptSignal, options.abortGraceMs);
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
    clearInterval(heartbeat);
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
    await store.finish(run._id, { status, attempts, result, error, now: clock() });
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

function startHeartbeat(options: ExecuteOptions, logger: Logger, claimLost: AbortController): NodeJS.Timeout {
  const timer = setInterval(() => {
    options.store
      .heartbeat(options.run._id, options.clock())
      .then((stillOurs) => {
        if (!stillOurs && !claimLost.signal.aborted) {
          logger.error('the run lost its claim (declared abandoned elsewhere); stopping it');
          claimLost.abort(new ClaimLostError('the claim was declared abandoned by another instance'));
        }
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'heartbeat failed'));
  }, options.heartbeatIntervalMs);
  timer.unref();
  return timer;
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
 * Settles with the job, except that once the signal aborts the job gets `graceMs` to finish its
 * current batch and return; after that it is left behind, so a job that ignores its signal cannot
 * hold the scheduler (or shutdown) hostage.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let graceTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      graceTimer = setTimeout(() => reject(signal.reason), graceMs);
      graceTimer.unref();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(graceTimer);
    };
    work.then(
      (value) => {
        settle();
        resolve(value);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
}

function abortReason(signal: AbortSignal): string {
  return describeError(signal.reason ?? 'aborted');
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 1_000);
  return String(error).slice(0, 1_000);
}
