import { BotApiError, DESCRIPTIONS } from './api-error.js';

export interface FaultSpec {
  /** Only calls of this method (any method when omitted). */
  method?: string;
  /** Only calls whose chat_id is this chat. */
  chatId?: number;
  /** How many matching calls fail; default 1, `Infinity` for all. */
  times?: number;
  status: number;
  /** Defaults to Telegram's wording for the status. */
  description?: string;
  /** For 429: seconds in `parameters.retry_after` (default 1). */
  retryAfter?: number;
}

export interface PendingFault {
  id: number;
  method?: string;
  chatId?: number;
  remaining: number;
  status: number;
  description: string;
  retryAfter?: number;
}

const DEFAULT_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad Request: injected fault',
  401: DESCRIPTIONS.unauthorized,
  403: DESCRIPTIONS.botBlocked,
  404: DESCRIPTIONS.notFound,
  409: DESCRIPTIONS.getUpdatesConflict,
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Scripted failures, matched in the order they were injected and used up as they fire. */
export class FaultInjector {
  private faults: PendingFault[] = [];
  private nextId = 1;

  inject(spec: FaultSpec): PendingFault {
    const times = spec.times ?? 1;
    if (!(times > 0)) throw new Error('injectFault: times must be positive');
    if (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599) {
      throw new Error('injectFault: status must be an HTTP error status (400-599)');
    }
    const retryAfter = spec.status === 429 ? (spec.retryAfter ?? 1) : spec.retryAfter;
    const description =
      spec.description ??
      (spec.status === 429
        ? `Too Many Requests: retry after ${retryAfter}`
        : (DEFAULT_DESCRIPTIONS[spec.status] ?? `Error ${spec.status}`));
    const fault: PendingFault = {
      id: this.nextId++,
      ...(spec.method === undefined ? {} : { method: spec.method }),
      ...(spec.chatId === undefined ? {} : { chatId: spec.chatId }),
      remaining: times,
      status: spec.status,
      description,
      ...(retryAfter === undefined ? {} : { retryAfter }),
    };
    this.faults.push(fault);
    return fault;
  }

  /** The error for this call if a fault matches; consumes one use of the first matching fault. */
  take(method: string, chatId: number | undefined): BotApiError | undefined {
    const index = this.faults.findIndex(
      (fault) =>
        (fault.method === undefined || fault.method === method) &&
        (fault.chatId === undefined || fault.chatId === chatId),
    );
    const fault = this.faults[index];
    if (fault === undefined) return undefined;
    fault.remaining--;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return new BotApiError(
      fault.status,
      fault.description,
      fault.retryAfter === undefined ? undefined : { retry_after: fault.retryAfter },
    );
  }

  pending(): readonly PendingFault[] {
    return this.faults;
  }

  clear(): void {
    this.faults = [];
  }
}
