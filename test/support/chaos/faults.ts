import type { FakeBotApi, FaultSpec } from '../fake-bot-api/index.js';

/**
 * The fake Bot API's scripted faults, plus windows: a fault that hits every matching call until
 * the window closes. The fake removes faults only by clearing them all, so closing a window
 * re-injects the others in their order with what they have left.
 */
export class FaultBook {
  /** Window token -> the id of its fault in the fake. */
  private readonly windows = new Map<number, number>();
  private nextToken = 1;

  constructor(private readonly fake: FakeBotApi) {}

  counted(spec: FaultSpec): void {
    this.fake.injectFault(spec);
  }

  openWindow(spec: Omit<FaultSpec, 'times'>): number {
    const token = this.nextToken++;
    this.windows.set(token, this.fake.injectFault({ ...spec, times: Number.POSITIVE_INFINITY }).id);
    return token;
  }

  closeWindow(token: number): void {
    const closing = this.windows.get(token);
    if (closing === undefined) return;
    this.windows.delete(token);
    const kept = this.fake.pendingFaults().filter((fault) => fault.id !== closing && fault.remaining > 0);
    const specs = kept.map((fault) => ({
      id: fault.id,
      spec: {
        ...(fault.method === undefined ? {} : { method: fault.method }),
        ...(fault.chatId === undefined ? {} : { chatId: fault.chatId }),
        status: fault.status,
        description: fault.description,
        ...(fault.retryAfter === undefined ? {} : { retryAfter: fault.retryAfter }),
        times: fault.remaining,
      } satisfies FaultSpec,
    }));
    this.fake.clearFaults();
    for (const { id, spec } of specs) {
      const injected = this.fake.injectFault(spec);
      for (const [other, otherId] of this.windows) if (otherId === id) this.windows.set(other, injected.id);
    }
  }

  clear(): void {
    this.windows.clear();
    this.fake.clearFaults();
  }
}
