import { autoRetry } from '@grammyjs/auto-retry';
import { Api, type ApiClientOptions, type Transformer } from 'grammy';
import { FloodGate } from './flood-gate.js';
import type { Lane } from './priority-window.js';
import type { RateLimiter } from './rate-limiter.js';

/** Hooks for metrics: every HTTP call the bot makes, and every 429 Telegram answers. */
export interface ApiObserver {
  onCall?(event: { method: string; ok: boolean; errorCode: number | undefined; durationMs: number }): void;
  onRateLimited?(event: { method: string; retryAfterSeconds: number }): void;
}

/** What every Bot API client of one process shares. */
export interface ApiPolicy {
  /**
   * The process-wide limiter (one per process, shared by the bot and the jobs): replies take its
   * interactive entrance, background work its bulk one.
   */
  limiter: RateLimiter;
  /** Closed by any 429; bulk calls wait at it (see flood-gate.ts). */
  gate: FloodGate;
  /** An interactive reply asked to wait longer than this fails instead of keeping the user waiting. */
  maxRetryAfterSeconds: number;
  /** How many 429s in a row one interactive reply may wait out. */
  maxRateLimitRetries: number;
  observer?: ApiObserver;
}

export function createApiPolicy(input: Omit<ApiPolicy, 'gate'> & { gate?: FloodGate }): ApiPolicy {
  return { ...input, gate: input.gate ?? new FloodGate() };
}

/** Methods whose call may put a message in a chat. */
export const CREATES_MESSAGE = /^(send|copy|forward)/;

/**
 * Replies to a user's own update: 429 waits are bounded by `maxRetryAfterSeconds`, after which
 * the call fails rather than keep the user waiting for minutes. Transformers installed later wrap
 * earlier ones, so a call flows: auto-retry → limiter → flood watch → observer → network.
 */
export function applyInteractivePolicy(api: Api, policy: ApiPolicy): Api {
  installCommon(api, policy, 'interactive');
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

/**
 * Background work (deletions, notices, broadcasts, alerts): every call first passes the flood
 * gate; a 429 closes the gate for `retry_after` and the call is tried again once it opens, however
 * long that takes. Only the caller's abort signal ends the wait.
 */
export function applyBulkPolicy(api: Api, policy: ApiPolicy): Api {
  installCommon(api, policy, 'bulk');
  api.config.use(async (prev, method, payload, signal) => {
    for (;;) {
      await policy.gate.pass(signal as AbortSignal | undefined);
      const result = await prev(method, payload, signal);
      if (result.ok || result.error_code !== 429) return result;
      // The flood watch below has closed the gate already; go round and wait at it.
    }
  });
  return api;
}

export function createBulkApi(
  token: string,
  apiRoot: string,
  policy: ApiPolicy,
  client: Omit<ApiClientOptions, 'apiRoot'> = {},
): Api {
  return applyBulkPolicy(new Api(token, { ...client, apiRoot }), policy);
}

function installCommon(api: Api, policy: ApiPolicy, lane: Lane): void {
  api.config.use(observe(policy.observer));
  api.config.use(watchFloods(policy.gate));
  api.config.use(policy.limiter[lane]);
}

/** Any 429, interactive or bulk, tells the bulk senders to hold back for `retry_after`. */
function watchFloods(gate: FloodGate): Transformer {
  return async (prev, method, payload, signal) => {
    const result = await prev(method, payload, signal);
    if (!result.ok && result.error_code === 429) {
      gate.close({ method, retryAfterSeconds: result.parameters?.retry_after ?? 1 });
    }
    return result;
  };
}

/**
 * Counts each real HTTP request and sends it. A call that may create a message goes out without
 * the caller's abort signal: cancelling it on the wire can lose a message that was in fact sent,
 * and a copy nobody knows about is a copy nobody will delete. Waits before it stay abortable.
 */
function observe(observer: ApiObserver | undefined): Transformer {
  return async (prev, method, payload, signal) => {
    const wireSignal = CREATES_MESSAGE.test(method) ? undefined : signal;
    if (!observer) return prev(method, payload, wireSignal);
    const started = performance.now();
    try {
      const result = await prev(method, payload, wireSignal);
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
