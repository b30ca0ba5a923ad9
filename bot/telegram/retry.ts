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
    ...(signal ? { signal } : {}),
    shouldRetry: ({ error }) => !signal?.aborted && classifyTelegramError(error) === 'transient',
  });
}
