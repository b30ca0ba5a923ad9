/**
 * Reading what the fake Bot API answered, as it happens: the recorded calls (fake started with
 * --record-calls) are fetched page by page from `GET /__control/calls?from=N`, so the bench can
 * act as users who react to a reply (tap a verification link) and can time every user's last reply.
 */
import { control } from '../processes.js';

export interface SeenCall {
  /** The fake's clock (Date.now() of its process, same machine) when it answered. */
  time: number;
  method: string;
  chatId?: number;
  status: number;
  text?: string;
}

/** Methods Telegram's global limit counts (the fake's default): everything but these. */
const NOT_COUNTED = new Set(['getUpdates', 'getMe', 'getWebhookInfo', 'deleteWebhook']);
const SENDS = /^(send|copy|forward)/;

export class CallFollower {
  private next = 0;
  /** Every answered call the global limit counts, in the order answered. */
  readonly counted: SeenCall[] = [];
  /** Successful sends into each chat, in order. */
  readonly sendsByChat = new Map<number, SeenCall[]>();

  constructor(private readonly controlUrl: string) {}

  /** Fetches the calls answered since the last poll; returns the new successful sends. */
  async poll(): Promise<SeenCall[]> {
    const page = (await control(this.controlUrl, `/calls?from=${this.next}`)) as unknown as {
      calls: SeenCall[];
      next: number;
    };
    this.next = page.next;
    const sends: SeenCall[] = [];
    for (const call of page.calls) {
      if (!NOT_COUNTED.has(call.method)) this.counted.push(call);
      if (call.status !== 200 || !SENDS.test(call.method) || call.chatId === undefined) continue;
      let list = this.sendsByChat.get(call.chatId);
      if (!list) {
        list = [];
        this.sendsByChat.set(call.chatId, list);
      }
      list.push(call);
      sends.push(call);
    }
    return sends;
  }
}

/** The p-th percentile (0..100) by nearest rank; undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export interface RateFigures {
  calls: number;
  /** Between the first and the last counted call. */
  busySeconds: number;
  /** calls / busySeconds. */
  meanPerSecond: number;
  /** The most calls in any window of 1,000 ms (sliding, starting at each call). */
  maxSlidingWindow: number;
  /** Where that window starts, in seconds after the first call. */
  maxWindowAt: number;
  /** The most calls in one whole second of the clock. */
  maxClockSecond: number;
  /** Calls per clock second from the first busy second on, for a histogram. */
  perSecond: number[];
}

export function rates(times: readonly number[]): RateFigures {
  const sorted = [...times].sort((a, b) => a - b);
  const first = sorted[0];
  const last = sorted.at(-1);
  if (first === undefined || last === undefined) {
    return {
      calls: 0,
      busySeconds: 0,
      meanPerSecond: 0,
      maxSlidingWindow: 0,
      maxWindowAt: 0,
      maxClockSecond: 0,
      perSecond: [],
    };
  }
  let maxSliding = 0;
  let maxAt = first;
  let end = 0;
  for (let start = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! < sorted[start]! + 1_000) end++;
    if (end - start > maxSliding) {
      maxSliding = end - start;
      maxAt = sorted[start]!;
    }
  }
  const firstSecond = Math.floor(first / 1_000);
  const perSecond: number[] = Array.from({ length: Math.floor(last / 1_000) - firstSecond + 1 }, () => 0);
  for (const time of sorted) {
    const index = Math.floor(time / 1_000) - firstSecond;
    perSecond[index] = (perSecond[index] ?? 0) + 1;
  }
  const busySeconds = (last - first) / 1_000;
  return {
    calls: sorted.length,
    busySeconds,
    // Below two calls or within one millisecond there is no rate to speak of.
    meanPerSecond: busySeconds > 0 ? (sorted.length - 1) / busySeconds : 0,
    maxSlidingWindow: maxSliding,
    maxWindowAt: (maxAt - first) / 1_000,
    maxClockSecond: Math.max(...perSecond),
    perSecond,
  };
}
