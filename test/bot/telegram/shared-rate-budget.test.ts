import { setMaxListeners } from 'node:events';
import type { Transformer } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../../bot/telegram/rate-limiter.js';
import {
  type RateBudgetEvent,
  SharedRateBudget,
  type SharedRateBudgetOptions,
} from '../../../bot/telegram/shared-rate-budget.js';
import type { Collections } from '../../../db/collections.js';
import { RateSharesRepository } from '../../../db/repositories/rate-shares.js';
import { useTestDatabase } from '../../support/test-db.js';
import { useOwnMongo } from '../../support/use-own-mongo.js';
import { waitFor } from '../../support/wait.js';

const MAX_RPS = 12;
// Small periods: a join waits refresh + window + margin = 1,300 ms; a member that cannot stamp
// itself stops 2,000 - 1,000 - 100 = 900 ms after its last stamp was sent.
const PERIODS = { refreshMs: 200, memberTtlMs: 2_000, idleAfterMs: 500, safetyMarginMs: 100 } as const;
const STOP_AFTER_MS = PERIODS.memberTtlMs - 1_000 - PERIODS.safetyMarginMs;

interface Sent {
  instance: string;
  at: number;
}

/**
 * One instance's bulk lane pushing calls as fast as its limiter lets it, into a recorder instead
 * of Telegram (the limiter, not the network, is under test). The clock is the one the emulator's
 * $$NOW reads, so local and server times line up in the assertions.
 */
class Pusher {
  readonly events: RateBudgetEvent[] = [];
  readonly budget: SharedRateBudget;
  private readonly bulk: Transformer;
  private running = false;
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];

  constructor(
    readonly instance: string,
    collections: Collections,
    private readonly sent: Sent[],
    options: Partial<SharedRateBudgetOptions> = {},
  ) {
    this.budget = new SharedRateBudget({
      shares: new RateSharesRepository(collections.rateShares),
      instanceId: instance,
      maxPerSecond: MAX_RPS,
      ...PERIODS,
      now: Date.now,
      onEvent: (event) => this.events.push(event),
      ...options,
    });
    this.bulk = createRateLimiter({
      maxPerSecond: MAX_RPS,
      perChatPerSecond: 1,
      bulkShare: this.budget,
    }).bulk;
  }

  start(concurrency = 20): void {
    this.running = true;
    // Every worker waits on the one signal.
    setMaxListeners(concurrency + 10, this.abort.signal);
    const record: Parameters<Transformer>[0] = async () => {
      this.sent.push({ instance: this.instance, at: Date.now() });
      return { ok: true, result: true as never };
    };
    this.workers = Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; this.running; i++) {
        await this.bulk(
          record,
          'deleteMessage',
          { chat_id: worker, message_id: i } as never,
          this.abort.signal as never,
        ).catch(() => undefined);
      }
    });
  }

  /** Stops pushing; calls waiting for a slot give up. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort(new Error('stopped'));
    await Promise.all(this.workers);
  }

  counted(): Extract<RateBudgetEvent, { type: 'counted' }>[] {
    return this.events.filter((event) => event.type === 'counted');
  }

  joins(): Extract<RateBudgetEvent, { type: 'joined' }>[] {
    return this.events.filter((event) => event.type === 'joined');
  }
}

function busiestWindow(sent: readonly Sent[], windowMs = 1_000): number {
  const times = sent.map((call) => call.at).sort((a, b) => a - b);
  let busiest = 0;
  for (let first = 0, last = 0; first < times.length; first++) {
    while (last < times.length && (times[last] as number) < (times[first] as number) + windowMs) last++;
    busiest = Math.max(busiest, last - first);
  }
  return busiest;
}

const inWindow = (sent: readonly Sent[], from: number, to: number) =>
  sent.filter((call) => call.at >= from && call.at < to).length;

describe('one bulk rate budget per bot token, shared by instances on one database', () => {
  const db = useTestDatabase();
  const pushers: Pusher[] = [];
  afterEach(async () => {
    for (const pusher of pushers.splice(0)) {
      pusher.budget.close();
      await pusher.stop();
    }
  });

  it('three instances never exceed the budget together; a newcomer waits a refresh period; the survivors take over a stopped one’s share only after it expires', async () => {
    const sent: Sent[] = [];
    const instance = async (name: string) => {
      const pusher = new Pusher(name, (await db().connectAnother()).collections, sent);
      pushers.push(pusher);
      return pusher;
    };
    const [a, b, c] = [await instance('a'), await instance('b'), await instance('c')];

    a.start();
    b.start();
    await waitFor(() => a.counted().at(-1)?.members === 2 && b.counted().at(-1)?.members === 2, {
      message: 'a and b counting each other',
    });
    await waitFor(() => inWindow(sent, Date.now() - 1_000, Date.now()) > 0, { message: 'bulk sending' });

    c.start();
    await waitFor(() => sent.filter((call) => call.instance === 'c').length >= MAX_RPS / 3, {
      message: 'c sending',
    });
    const cJoined = c.joins()[0];
    expect(cJoined).toBeDefined();
    const cFirst = sent.find((call) => call.instance === 'c')?.at as number;
    // Nothing before a full refresh period (plus the window and margin) after its announcement.
    expect(cFirst).toBeGreaterThanOrEqual((cJoined?.at as number) + PERIODS.refreshMs);
    expect(cFirst).toBeGreaterThanOrEqual(cJoined?.sendingFrom as number);
    expect(a.counted().at(-1)?.allowance.limit).toBe(MAX_RPS / 3);

    // c dies: it stops stamping and sending without a word to the others.
    c.budget.close();
    await c.stop();
    const cLastStampSent = c.counted().at(-1)?.sentAt as number;
    const cStopped = Date.now();

    await waitFor(() => a.counted().at(-1)?.members === 2 && b.counted().at(-1)?.members === 2, {
      message: 'a and b counting c out',
    });
    const endOfRun = Date.now() + 1_500;
    await waitFor(() => Date.now() >= endOfRun, { message: 'the survivors sending at their new share' });
    await a.stop();
    await b.stop();

    // Never over the budget in any one-second window, across the three instances.
    expect(busiestWindow(sent)).toBeLessThanOrEqual(MAX_RPS);
    // The survivors raised their shares only once c's stamp had lapsed (1 ms of clock rounding).
    for (const survivor of [a, b]) {
      const raised = survivor.counted().find((event) => event.sentAt > cStopped && event.members === 2);
      expect(raised?.at).toBeGreaterThanOrEqual(cLastStampSent + PERIODS.memberTtlMs - 1);
      expect(raised?.allowance.limit).toBe(MAX_RPS / 2);
    }
    // ... and used them: the last second of the run is close to the whole budget.
    expect(inWindow(sent, endOfRun - 1_000, endOfRun)).toBeGreaterThanOrEqual(MAX_RPS * 0.8);
  });
});

describe('an instance that cannot reach the database', () => {
  const mongo = useOwnMongo('rate_budget_outage');
  let pusher: Pusher | undefined;
  afterEach(async () => {
    pusher?.budget.close();
    await pusher?.stop();
    pusher = undefined;
  });

  it('stops bulk sending before the others could count it out, and joins afresh once the database is back', async () => {
    const sent: Sent[] = [];
    pusher = new Pusher('alone', mongo.collections, sent);
    pusher.start();
    await waitFor(() => sent.length >= MAX_RPS, { message: 'sending at the whole budget' });

    await mongo.emulator.stop();
    const down = Date.now();
    await waitFor(() => pusher?.events.some((event) => event.type === 'beat-failed' && event.at > down), {
      message: 'a failed stamp',
    });
    const lastStampSent = pusher.counted().at(-1)?.sentAt as number;
    const deadline = lastStampSent + STOP_AFTER_MS;
    await waitFor(() => Date.now() > deadline + 500, { message: 'past the stop deadline' });
    const sentWhileDown = sent.filter((call) => call.at > down);
    // Bulk stopped by its deadline, well before its stamp lapses for the others (lastStampSent + ttl).
    expect(sentWhileDown.every((call) => call.at <= deadline)).toBe(true);
    expect(sent.filter((call) => call.at > deadline)).toEqual([]);

    await mongo.emulator.start();
    const up = Date.now();
    await waitFor(() => sent.some((call) => call.at > up), { message: 'sending again', timeoutMs: 15_000 });
    const rejoined = pusher.joins().find((event) => event.at > up);
    expect(rejoined).toBeDefined();
    expect(sent.find((call) => call.at > up)?.at).toBeGreaterThanOrEqual(rejoined?.sendingFrom as number);
    expect(busiestWindow(sent)).toBeLessThanOrEqual(MAX_RPS);
  });
});
