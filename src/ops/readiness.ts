import { withDeadline } from './deadline.js';

export interface ReadinessReport {
  ready: boolean;
  /**
   * `ok` for a passing check (and `disabled` for schedulers turned off), otherwise what is wrong in
   * a few words; never a secret.
   */
  checks: { mongodb: string; telegram: string; scheduler: string; webhook?: string };
}

export type ReadinessCheck = () => Promise<ReadinessReport>;

export interface ReadinessSources {
  /** `Database` from db/client.ts fits. */
  database: { ping(): Promise<boolean> };
  /** Whether the bot's getMe has succeeded, e.g. `() => bot.isInited()`. */
  botReady: () => boolean;
  /** Leave out when the schedulers are disabled (SCHEDULERS_ENABLED=false): the check then passes. */
  runtime?: { readonly isStarted: boolean } | undefined;
  /**
   * Webhook mode only: `ok` once the webhook server listens and Telegram accepted setWebhook,
   * otherwise what is missing. Left out in polling mode (no `webhook` check in the report).
   */
  webhook?: () => string;
  /** Bound on the database ping, below Kubernetes' default probe timeout of 1 s. */
  timeoutMs?: number;
}

/**
 * Builds the `/readyz` check. Concurrent probes share one ping, so a burst of probes during an
 * outage does not pile up pings on a struggling database.
 */
export function createReadinessCheck(sources: ReadinessSources): ReadinessCheck {
  const timeoutMs = sources.timeoutMs ?? 800;
  let pingInFlight: Promise<string> | undefined;

  const checkDatabase = (): Promise<string> => {
    pingInFlight ??= withDeadline(
      Promise.resolve().then(() => sources.database.ping()),
      timeoutMs,
      'ping',
    )
      .then(
        (answered) => (answered ? 'ok' : 'down: ping failed'),
        // Only the error's kind: driver messages can carry host names and URIs.
        (error: unknown) =>
          error instanceof Error && error.name === 'DeadlineExceededError'
            ? `down: no answer to ping within ${timeoutMs} ms`
            : `down: ping failed (${error instanceof Error ? error.name : 'error'})`,
      )
      .finally(() => {
        pingInFlight = undefined;
      });
    return pingInFlight;
  };

  return async () => {
    const mongodb = await checkDatabase();
    const telegram = safely(sources.botReady) ? 'ok' : 'getMe has not succeeded yet';
    const scheduler =
      sources.runtime === undefined ? 'disabled' : sources.runtime.isStarted ? 'ok' : 'not started';
    const webhook = sources.webhook?.();
    return {
      ready:
        mongodb === 'ok' &&
        telegram === 'ok' &&
        scheduler !== 'not started' &&
        (webhook === undefined || webhook === 'ok'),
      checks: { mongodb, telegram, scheduler, ...(webhook === undefined ? {} : { webhook }) },
    };
  };
}

function safely(probe: () => boolean): boolean {
  try {
    return probe() === true;
  } catch {
    return false;
  }
}
