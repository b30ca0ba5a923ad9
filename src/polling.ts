import { createConcurrentSink, createRunner, createSource, type RunnerHandle } from '@grammyjs/runner';
import { type Bot, GrammyError, type PollingOptions } from 'grammy';
import type { Update } from 'grammy/types';
import type { BotContext } from '../bot/context.js';
import type { UpdatesInFlight } from '../bot/updates/in-flight.js';
import type { LeasesRepository } from '../db/repositories/leases.js';
import type { Logger } from './logger.js';

export const POLLING_LEASE = 'polling';

export interface LeaderPollingOptions {
  bot: Bot<BotContext>;
  leases: LeasesRepository;
  instanceId: string;
  leaseMs: number;
  logger: Logger;
  /** Aborted at shutdown: polling stops, the updates in hand get `stopBudgetMs` to finish. */
  signal: AbortSignal;
  stopBudgetMs: number;
  allowedUpdates: PollingOptions['allowed_updates'];
  /** Counts the updates being handled (the bot's first middleware). */
  inFlight: UpdatesInFlight;
  /** Updates handled at once (BOT_CONCURRENCY). */
  concurrency: number;
  /** Pause after a 409 Conflict before polling again; default 3 s. */
  conflictBackoffMs?: number;
  onPolling(): void;
}

/**
 * Telegram lets one process at a time long-poll a bot token (a second getUpdates gets 409
 * Conflict). Several instances share one database, so they share a lease on receiving updates:
 * the holder polls and renews it, the others stand by (their schedulers keep running, coordinated
 * by their own claims) and take over when the holder stops or dies. Resolves at shutdown, once
 * the updates in hand are finished (or the stop budget is spent) and the lease is released.
 */
export async function pollWhileLeader(options: LeaderPollingOptions): Promise<void> {
  const { leases, instanceId, leaseMs, logger, signal } = options;
  const checkEveryMs = Math.max(500, Math.min(5_000, Math.floor(leaseMs / 3)));
  let standingBy = false;
  try {
    while (!signal.aborted) {
      const held = await leases.acquire(POLLING_LEASE, instanceId, leaseMs).catch((error: unknown) => {
        logger.warn({ err: error }, 'could not check the polling lease');
        return false;
      });
      if (!held) {
        if (!standingBy) logger.info('another instance is receiving updates; standing by to take over');
        standingBy = true;
        await pause(checkEveryMs, signal);
        continue;
      }
      if (standingBy) logger.info('taking over receiving updates');
      standingBy = false;
      await pollWhileHeld(options, checkEveryMs);
    }
  } finally {
    // Hand over at once rather than after the lease expires.
    await leases.release(POLLING_LEASE, instanceId).catch(() => undefined);
  }
}

/**
 * One stretch of holding the lease: the runner fetches while the handlers work, updates of
 * different chats run side by side (BOT_CONCURRENCY at most), the lease is renewed meanwhile.
 * Ends at shutdown, when the lease is lost, or on an error polling cannot survive; in every case
 * it waits for the updates in hand and confirms them before returning, so the next holder (or
 * this instance again) does not receive them a second time.
 */
async function pollWhileHeld(options: LeaderPollingOptions, checkEveryMs: number): Promise<void> {
  const { bot, logger, signal, inFlight } = options;
  const fetcher = new UpdateFetcher(options);
  const runner = createRunner(
    // The runner types its signal with a polyfill's interface too.
    createSource<Update>({
      supply: (size, fetchSignal) => fetcher.fetch(size, fetchSignal as unknown as AbortSignal),
    }),
    createConcurrentSink<Update>(
      { consume: (update) => bot.handleUpdate(update) },
      async (error) => {
        await bot.errorHandler(error as Parameters<typeof bot.errorHandler>[0]);
      },
      { concurrency: options.concurrency },
    ),
  );
  const lost = new AbortController();
  const renewal = keepLease(options, checkEveryMs, () => lost.abort());
  const stop = () => void runner.stop();
  signal.addEventListener('abort', stop, { once: true });
  lost.signal.addEventListener('abort', stop, { once: true });
  try {
    runner.start();
    // Shutdown may have come while the lease was being taken.
    if (signal.aborted || lost.signal.aborted) stop();
    else options.onPolling();
    await runner.task();
  } catch (error) {
    // Only an unrecoverable fetch error (a revoked token) gets here; the caller decides.
    if (!signal.aborted) throw error;
  } finally {
    clearInterval(renewal);
    signal.removeEventListener('abort', stop);
    await finishInHand(options, runner, fetcher);
  }
  if (inFlight.size > 0)
    logger.warn({ updates: inFlight.size }, 'stopped polling with updates still being handled');
}

/** Waits for the updates in hand (within the stop budget at shutdown), then confirms them. */
async function finishInHand(
  options: LeaderPollingOptions,
  runner: RunnerHandle,
  fetcher: UpdateFetcher,
): Promise<void> {
  const { inFlight, signal, logger } = options;
  await runner.stop();
  // At shutdown the stop budget; after a lost lease, as long as a lease (a handler stuck longer
  // than that is not waited for; the next holder may then handle its update again).
  await inFlight.idle(AbortSignal.timeout(signal.aborted ? options.stopBudgetMs : options.leaseMs));
  const offset = inFlight.confirmableOffset();
  if (offset === undefined || offset <= fetcher.sentOffset) return;
  // Telegram forgets updates below the offset of a getUpdates call; without this one the last
  // batch would be delivered again to whoever polls next.
  await options.bot.api
    .getUpdates({ offset, limit: 1, timeout: 0 }, forGrammy(AbortSignal.timeout(5_000)))
    .then(() => logger.debug({ offset }, 'confirmed the handled updates'))
    .catch((error: unknown) => logger.warn({ err: error }, 'could not confirm the last handled updates'));
}

/**
 * The runner's update supplier: getUpdates with our own offset and error handling. A 409 (the
 * previous holder's last long poll still open at Telegram) pauses briefly and goes on, lease
 * renewal untouched; network errors and 5xx back off and go on; a 401 ends polling.
 */
class UpdateFetcher {
  private offset = 0;
  private sent = 0;
  private backoffMs = 0;

  constructor(private readonly options: LeaderPollingOptions) {}

  /**
   * The offset of the last getUpdates sent: Telegram forgets the updates below it as soon as the
   * request arrives, so updates being handled may already be confirmed (the runner's way: a crash
   * mid-handling loses those updates rather than handling them twice).
   */
  get sentOffset(): number {
    return this.sent;
  }

  async fetch(batchSize: number, signal: AbortSignal): Promise<Update[]> {
    const { bot, logger } = this.options;
    for (;;) {
      try {
        this.sent = this.offset;
        const updates = await bot.api.getUpdates(
          {
            offset: this.offset,
            limit: Math.max(1, Math.min(batchSize, 100)),
            timeout: 30,
            ...(this.options.allowedUpdates ? { allowed_updates: this.options.allowedUpdates } : {}),
          },
          forGrammy(signal),
        );
        this.backoffMs = 0;
        const last = updates.at(-1);
        if (last) this.offset = last.update_id + 1;
        return updates;
      } catch (error) {
        if (signal.aborted) throw error;
        if (error instanceof GrammyError && error.error_code === 401) throw error;
        if (error instanceof GrammyError && error.error_code === 409) {
          const waitMs = this.options.conflictBackoffMs ?? 3_000;
          logger.warn(
            { err: error, retryInMs: waitMs },
            'Telegram says another getUpdates is open for this bot token (409 Conflict), likely the previous holder’s last poll; polling again shortly',
          );
          await pause(waitMs, signal);
          continue;
        }
        const retryAfter = error instanceof GrammyError ? error.parameters.retry_after : undefined;
        this.backoffMs =
          retryAfter !== undefined ? retryAfter * 1_000 : Math.min(Math.max(this.backoffMs * 2, 500), 30_000);
        logger.warn({ err: error, retryInMs: this.backoffMs }, 'could not fetch updates; trying again');
        await pause(this.backoffMs, signal);
      }
      if (signal.aborted) throw signal.reason;
    }
  }
}

/**
 * Renews the lease while polling. A holder that cannot renew (database unreachable, process
 * stalled) stops polling before the lease can run out: the lease was last confirmed when the
 * renewal that succeeded was sent, so two thirds of a lease later it stops, well before another
 * instance may take over.
 */
function keepLease(options: LeaderPollingOptions, everyMs: number, stopPolling: () => void): NodeJS.Timeout {
  const { leases, instanceId, leaseMs, logger } = options;
  let confirmedAt = performance.now();
  let stopped = false;
  const stop = (message: string) => {
    if (stopped) return;
    stopped = true;
    logger.error(message);
    stopPolling();
  };
  const timer = setInterval(() => {
    if (performance.now() - confirmedAt > (leaseMs * 2) / 3) {
      stop('could not renew the polling lease in time; standing by so that no two instances poll');
      return;
    }
    const sentAt = performance.now();
    leases
      .acquire(POLLING_LEASE, instanceId, leaseMs)
      .then((held) => {
        if (held) confirmedAt = Math.max(confirmedAt, sentAt);
        else stop('lost the polling lease to another instance; standing by');
      })
      // The database may be out for a moment: keep polling while the lease still covers us.
      .catch((error: unknown) => logger.warn({ err: error }, 'could not renew the polling lease'));
  }, everyMs);
  timer.unref();
  return timer;
}

/** grammY types its signals with a polyfill's interface; at runtime they are the platform's. */
function forGrammy(signal: AbortSignal): Parameters<Bot['api']['getUpdates']>[1] {
  return signal as unknown as Parameters<Bot['api']['getUpdates']>[1];
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
