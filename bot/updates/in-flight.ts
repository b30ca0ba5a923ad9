import type { MiddlewareFn } from 'grammy';

/**
 * Counts the updates being handled, so that a stop can wait for the ones in hand and confirm to
 * Telegram only what was finished. Installed as the bot's first middleware, it sees an update as
 * soon as the runner hands it over, including while it waits behind another update of its chat.
 */
export class UpdatesInFlight {
  private readonly running = new Set<number>();
  private highestFinished: number | undefined;
  private readonly idleWaiters = new Set<() => void>();

  middleware(): MiddlewareFn {
    return async (ctx, next) => {
      const id = ctx.update.update_id;
      this.running.add(id);
      try {
        await next();
      } finally {
        this.running.delete(id);
        this.highestFinished = Math.max(this.highestFinished ?? id, id);
        if (this.running.size === 0) for (const wake of this.idleWaiters) wake();
      }
    };
  }

  get size(): number {
    return this.running.size;
  }

  /**
   * The getUpdates offset that confirms every finished update and none still running: below the
   * lowest running one, else just past the highest finished. Undefined when nothing was handled.
   */
  confirmableOffset(): number | undefined {
    if (this.running.size > 0) return Math.min(...this.running);
    return this.highestFinished === undefined ? undefined : this.highestFinished + 1;
  }

  /** Resolves once nothing is being handled, or when `signal` aborts (a spent stop budget). */
  idle(signal?: AbortSignal): Promise<void> {
    if (this.running.size === 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.idleWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.idleWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
