import type { TimeSource } from '../../../bot/telegram/flood-gate.js';

/**
 * The world's clock: what Telegram (the fake Bot API: message dates, the 48-hour rule) and the
 * bot instances (plus their skews) read. It ticks with real time from wherever the test put it, and
 * the test moves it forward in steps of minutes to hours. Never backwards.
 */
export class VirtualClock {
  private offsetMs: number;

  constructor(start: number) {
    this.offsetMs = start - Date.now();
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    if (ms > 0) this.offsetMs += ms;
  }

  /** Moves the clock to `at` unless it is already later. */
  advanceTo(at: number): void {
    this.advance(at - this.now());
  }
}

/**
 * The flood gate's time: Telegram's `retry_after` seconds pass `scale` times faster than real time
 * (1 s of retry_after = 1000/scale ms of real time), so a 429 asking for a quarter of an hour costs
 * under a second of test time while the gate's logic (close, wait, re-check) runs unchanged.
 */
export function compressedTime(scale: number): TimeSource {
  return {
    now: () => performance.now() * scale,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const onAbort = () => {
          clearTimeout(timer);
          reject(signal?.reason);
        };
        const timer = setTimeout(
          () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          Math.ceil(ms / scale),
        );
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
  };
}
