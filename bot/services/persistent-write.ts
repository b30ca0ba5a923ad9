/**
 * Retries a database write until it succeeds: the write records something that already happened
 * in Telegram (a copy was sent), so giving up on it would lose track of a message for good. The
 * caller is told once the failures have lasted `patienceMs` (to stop doing more), and only its
 * abort signal (process shutdown) ends the retrying.
 */
export interface PersistOptions {
  /** How long failures may last before `onStuck` is called (once). */
  patienceMs: number;
  onStuck(error: unknown): void;
  onRetry?(error: unknown, attempt: number): void;
  signal?: AbortSignal;
  minDelayMs?: number;
  maxDelayMs?: number;
}

export async function persist<T>(write: () => Promise<T>, options: PersistOptions): Promise<T> {
  const started = performance.now();
  let delay = options.minDelayMs ?? 200;
  let stuck = false;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (options.signal?.aborted) throw error;
      options.onRetry?.(error, attempt);
      if (!stuck && performance.now() - started >= options.patienceMs) {
        stuck = true;
        options.onStuck(error);
      }
      // Stopped while waiting to try again: the caller hears what failed, not that it was stopped.
      await sleep(delay, options.signal).catch(() => {
        throw error;
      });
      delay = Math.min(options.maxDelayMs ?? 5_000, delay * 2);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
