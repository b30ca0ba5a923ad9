/**
 * Telegram's 429 answers say how long the bot must wait (`retry_after`, sometimes minutes). Every
 * further call during the wait prolongs the trouble, so one 429 closes this gate for the whole
 * process's bulk sending (deletions, notices, broadcasts, alerts) until the wait is over. Bulk
 * calls then wait here however long it takes; nobody is given up because of a 429.
 */
export interface TimeSource {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realTime: TimeSource = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const timer = setTimeout(done, ms);
      function done() {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort() {
        clearTimeout(timer);
        reject(signal?.reason);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

export interface FloodWait {
  method: string;
  retryAfterSeconds: number;
}

export class FloodGate {
  private openAt = Number.NEGATIVE_INFINITY;
  private readonly listeners = new Set<(wait: FloodWait) => void>();

  constructor(private readonly time: TimeSource = realTime) {}

  /** Telegram asked for a wait: nothing bulk goes out before it is over. */
  close(wait: FloodWait): void {
    this.openAt = Math.max(this.openAt, this.time.now() + wait.retryAfterSeconds * 1_000);
    for (const listener of this.listeners) listener(wait);
  }

  /** How long the gate stays closed from now; 0 when open. */
  get remainingMs(): number {
    return Math.max(0, this.openAt - this.time.now());
  }

  /** Waits until the gate is open; a later 429 that extends the wait is honoured too. */
  async pass(signal?: AbortSignal): Promise<void> {
    for (let left = this.remainingMs; left > 0; left = this.remainingMs) {
      await this.time.sleep(left, signal);
    }
    if (signal?.aborted) throw signal.reason;
  }

  /** Told about every wait (progress messages, logs). */
  onClose(listener: (wait: FloodWait) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
