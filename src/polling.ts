import { type Bot, GrammyError, type PollingOptions } from 'grammy';
import type { BotContext } from '../bot/context.js';
import type { LeasesRepository } from '../db/repositories/leases.js';
import type { Logger } from './logger.js';

export const POLLING_LEASE = 'polling';

export interface LeaderPollingOptions {
  bot: Bot<BotContext>;
  leases: LeasesRepository;
  instanceId: string;
  leaseMs: number;
  logger: Logger;
  /** Aborted at shutdown; the caller also calls bot.stop(). */
  signal: AbortSignal;
  allowedUpdates: PollingOptions['allowed_updates'];
  onPolling(): void;
}

/**
 * Telegram lets one process at a time long-poll a bot token (a second getUpdates gets 409
 * Conflict). Several instances share one database, so they share a lease on receiving updates:
 * the holder polls and renews it, the others stand by (their schedulers keep running, coordinated
 * by their own claims) and take over when the holder stops or dies. Resolves at shutdown.
 */
export async function pollWhileLeader(options: LeaderPollingOptions): Promise<void> {
  const { bot, leases, instanceId, leaseMs, logger, signal } = options;
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
      const renewal = keepLease(options, checkEveryMs);
      try {
        await bot.start({
          allowed_updates: options.allowedUpdates,
          onStart: () => {
            // Shutdown may have come while the lease was being taken.
            if (signal.aborted) void bot.stop().catch(() => undefined);
            else options.onPolling();
          },
        });
      } catch (error) {
        if (!(error instanceof GrammyError && error.error_code === 409)) throw error;
        logger.error(
          { err: error },
          'Telegram says another process is receiving updates for this bot token (409 Conflict); retrying later',
        );
        await pause(leaseMs, signal);
      } finally {
        clearInterval(renewal);
      }
    }
  } finally {
    // Hand over at once rather than after the lease expires.
    await leases.release(POLLING_LEASE, instanceId).catch(() => undefined);
  }
}

/**
 * Renews the lease while polling. A holder that cannot renew (database unreachable, process
 * stalled) stops polling before the lease can run out: the lease was last confirmed when the
 * renewal that succeeded was sent, so two thirds of a lease later it stops, well before another
 * instance may take over.
 */
function keepLease(options: LeaderPollingOptions, everyMs: number): NodeJS.Timeout {
  const { bot, leases, instanceId, leaseMs, logger } = options;
  let confirmedAt = performance.now();
  let stopped = false;
  const stopPolling = (message: string) => {
    if (stopped) return;
    stopped = true;
    logger.error(message);
    void bot.stop().catch(() => undefined);
  };
  const timer = setInterval(() => {
    if (performance.now() - confirmedAt > (leaseMs * 2) / 3) {
      stopPolling('could not renew the polling lease in time; standing by so that no two instances poll');
      return;
    }
    const sentAt = performance.now();
    leases
      .acquire(POLLING_LEASE, instanceId, leaseMs)
      .then((held) => {
        if (held) confirmedAt = Math.max(confirmedAt, sentAt);
        else stopPolling('lost the polling lease to another instance; standing by');
      })
      // The database may be out for a moment: keep polling while the lease still covers us.
      .catch((error: unknown) => logger.warn({ err: error }, 'could not renew the polling lease'));
  }, everyMs);
  timer.unref();
  return timer;
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
