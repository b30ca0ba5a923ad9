import pRetry from 'p-retry';
import { classifyTelegramError } from './errors.js';

export interface TransientRetryPolicy {
  /** Retries after the first attempt, for 5xx and network errors only. */
  retries: number;
  baseDelayMs: number;
}

/**
 * Retries a Bot API call that failed with a 5xx or a network error, with exponential backoff.
 * 429s are waited out by the auto-retry transformer below this; anything else is final.
 *
 * The signal only stops further retries. It is deliberately not handed to p-retry, which would
 * report a call that succeeded just as the signal fired as a failure, and a sent message whose
 * success is lost is a message nobody will ever delete.
 */
export function withTransientRetry<T>(
  call: () => Promise<T>,
  policy: TransientRetryPolicy,
  signal?: AbortSignal,
): Promise<T> {
  return pRetry(call, {
    retries: policy.retries,
    minTimeout: policy.baseDelayMs,
    factor: 2,
    randomize: false,
    shouldRetry: ({ error }) => !signal?.aborted && classifyTelegramError(error) === 'transient',
  });
}
