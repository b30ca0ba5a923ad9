import { setTimeout as sleep } from 'node:timers/promises';
import { BotApiError, DESCRIPTIONS, tooManyRequests } from './api-error.js';
import type { CallLog } from './call-log.js';
import type { FaultInjector } from './faults.js';
import type { BotApiRequest, HttpReply } from './http-layer.js';
import { canonicalMethodName, type FakeBotState, METHODS, ResultWithDescription } from './methods/index.js';
import type { RateLimiter } from './rate-limiter.js';
import { Params, toInteger } from './request-params.js';

/**
 * Runs one Bot API call through the conditions a test set up, in the order a real request meets
 * them: network latency, unknown or disabled method, injected fault, flood control, the method.
 */
export class Dispatcher {
  readonly latencyMs = new Map<string, number>();
  /** Calls of these methods wait here until the test releases them (see FakeBotApi.holdCalls). */
  readonly holds = new Map<string, Promise<BotApiError | undefined>>();
  readonly disabledMethods = new Set<string>();
  /** Calls received and not answered yet, per method (a test can act while one is in flight). */
  readonly inFlight = new Map<string, number>();

  constructor(
    private readonly state: FakeBotState,
    private readonly faults: FaultInjector,
    private readonly rateLimiter: RateLimiter,
    private readonly callLog: CallLog,
  ) {}

  async dispatch(request: BotApiRequest): Promise<HttpReply> {
    const method = canonicalMethodName(request.method);
    const recordedName = method ?? request.method;
    const latency = this.latencyMs.get(recordedName) ?? this.latencyMs.get('*') ?? 0;
    this.inFlight.set(recordedName, (this.inFlight.get(recordedName) ?? 0) + 1);
    let heldFailure: BotApiError | undefined;
    try {
      if (latency > 0) await sleep(latency);
      const hold = this.holds.get(recordedName);
      if (hold !== undefined) heldFailure = await hold;
    } finally {
      this.inFlight.set(recordedName, (this.inFlight.get(recordedName) ?? 1) - 1);
    }

    let status = 200;
    let body: unknown;
    let error: BotApiError | undefined;
    try {
      if (heldFailure !== undefined) throw heldFailure;
      const result = await this.run(method, request);
      body =
        result instanceof ResultWithDescription
          ? { ok: true, result: result.result, description: result.description }
          : { ok: true, result };
    } catch (thrown) {
      if (!(thrown instanceof BotApiError)) throw thrown;
      error = thrown;
      status = thrown.errorCode;
      body = thrown.toBody();
    }
    this.callLog.add({
      method: recordedName,
      params: request.sent,
      time: this.state.nowMs(),
      status,
      ok: error === undefined,
      ...(error === undefined ? {} : { description: error.description }),
      ...(error?.parameters?.retry_after === undefined ? {} : { retryAfter: error.parameters.retry_after }),
    });
    return { status, body };
  }

  private async run(method: string | undefined, request: BotApiRequest): Promise<unknown> {
    const handler = method === undefined || this.disabledMethods.has(method) ? undefined : METHODS[method];
    if (method === undefined || handler === undefined) throw new BotApiError(404, DESCRIPTIONS.notFound);
    const chatIdText = request.raw.chat_id;
    const chatId = chatIdText === undefined || chatIdText === '' ? undefined : toInteger(chatIdText);
    const fault = this.faults.take(method, chatId);
    if (fault !== undefined) throw fault;
    const retryAfter = this.rateLimiter.check(method, chatId, this.state.nowMs());
    if (retryAfter !== undefined) throw tooManyRequests(retryAfter);
    return handler({
      state: this.state,
      params: new Params(request.raw),
      files: request.files,
      signal: request.signal,
    });
  }
}
