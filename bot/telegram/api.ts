import { autoRetry } from '@grammyjs/auto-retry';
import { Api, type Transformer } from 'grammy';

/** Hooks for metrics: every HTTP call the bot makes, and every 429 Telegram answers. */
export interface ApiObserver {
  onCall?(event: { method: string; ok: boolean; errorCode: number | undefined; durationMs: number }): void;
  onRateLimited?(event: { method: string; retryAfterSeconds: number }): void;
}

export interface ApiPolicy {
  /** The process-wide limiter (one per process, shared by the bot and the jobs). */
  limiter: Transformer;
  /** 429s asking for a longer wait fail the call instead; the caller retries on a later run. */
  maxRetryAfterSeconds: number;
  /** How many 429s in a row one call may wait out. */
  maxRateLimitRetries: number;
  observer?: ApiObserver;
}

/**
 * Installs the call pipeline on a grammY API client. Transformers installed later wrap earlier
 * ones, so a call flows: auto-retry (waits out 429) → limiter (paces every attempt) → observer
 * (sees each real HTTP request) → network.
 */
export function applyApiPolicy(api: Api, policy: ApiPolicy): Api {
  api.config.use(observe(policy.observer));
  api.config.use(policy.limiter);
  api.config.use(
    autoRetry({
      maxRetryAttempts: policy.maxRateLimitRetries,
      maxDelaySeconds: policy.maxRetryAfterSeconds,
      // 5xx and network errors are retried by the callers, with their own bounded backoff;
      // the plugin's defaults would retry those forever.
      rethrowInternalServerErrors: true,
      rethrowHttpErrors: true,
    }),
  );
  return api;
}

export function createApi(token: string, apiRoot: string, policy: ApiPolicy): Api {
  return applyApiPolicy(new Api(token, { apiRoot }), policy);
}

function observe(observer: ApiObserver | undefined): Transformer {
  return async (prev, method, payload, signal) => {
    if (!observer) return prev(method, payload, signal);
    const started = performance.now();
    try {
      const result = await prev(method, payload, signal);
      observer.onCall?.({
        method,
        ok: result.ok,
        errorCode: result.ok ? undefined : result.error_code,
        durationMs: performance.now() - started,
      });
      if (!result.ok && result.error_code === 429 && typeof result.parameters?.retry_after === 'number') {
        observer.onRateLimited?.({ method, retryAfterSeconds: result.parameters.retry_after });
      }
      return result;
    } catch (error) {
      observer.onCall?.({ method, ok: false, errorCode: undefined, durationMs: performance.now() - started });
      throw error;
    }
  };
}
