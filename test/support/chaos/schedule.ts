import fc from 'fast-check';
import { CHAOS, SAFE_BROADCAST_MINUTES, SAFE_CONTENT_MINUTES } from './instance.js';

/** How many users (private chats) the simulated bot has. */
export const USERS = 8;
/** Instance slots; each holds one live instance at a time (a restart puts a new one there). */
export const SLOTS = 2;

export type JobName = 'message-deleter' | 'broadcast-deleter';

/** When a kill or a graceful stop happens. */
export type Trigger =
  | { at: 'now' }
  /** After `ms` of real time. */
  | { at: 'delay'; ms: number }
  /**
   * At the instance's n-th Bot API call from now: `before` it goes out (it is never sent), or
   * `after` the fake answered it but before the instance learnt the answer.
   */
  | { at: 'call'; n: number; phase: 'before' | 'after' };

export interface InstanceGen {
  /** Clock skew as a fraction of the lease, in [-0.9, 0.9]. */
  skew: number;
  /** Per-attempt timeout of the deleters in real ms, or none (the jobs' own 30 min / 6 h). */
  attemptTimeoutMs: number | null;
}

export type Step =
  /** Content delivered to some users: records in pending_deletions, messages in their chats. */
  | { kind: 'deliver'; users: number[]; messages: number; lifetimeMin: number }
  /** An admin's /broadcast on an instance, deleted after `lifetimeMin`. */
  | { kind: 'broadcast'; slot: number; lifetimeMin: number }
  /** The world's clock moves on (never past what the final sweep could still delete in time). */
  | { kind: 'advance'; minutes: number }
  /** A run of a deleter on an instance (as a cron tick or /run would start it), in the background. */
  | { kind: 'run'; slot: number; job: JobName }
  /** Real time passes (what is running goes on). */
  | { kind: 'wait'; ms: number }
  /** Waits (bounded) for the runs and broadcasts started so far to end. */
  | { kind: 'settle' }
  /**
   * SIGKILL at the trigger, then a new instance (new id) in the slot. `during` starts a run (or a
   * broadcast) on the instance just before, so that the kill lands in the middle of its batches.
   */
  | {
      kind: 'kill';
      slot: number;
      during: JobName | 'broadcast' | null;
      trigger: Trigger;
      restart: InstanceGen;
    }
  /** SIGTERM at the trigger (runtime.stop, broadcaster.stop, exit), then a new instance in the slot. */
  | {
      kind: 'abort';
      slot: number;
      during: JobName | 'broadcast' | null;
      trigger: Trigger;
      restart: InstanceGen;
    }
  /** Telegram answers 5xx: `times` calls (of one method or any), or every call for `ms` real ms. */
  | { kind: 'telegram5xx'; method: string | null; status: number; times: number | null; ms: number }
  /** Telegram answers 429 with a long retry_after, `times` times. */
  | { kind: 'flood'; method: string | null; retryAfter: number; times: number }
  /** MongoDB is down for `ms` real ms (the emulator stops and starts again with its data). */
  /** MongoDB is down for `ms` real ms, from the trigger (on the slot's Bot API calls) on. */
  | { kind: 'outage'; ms: number; slot: number; during: JobName | 'broadcast' | null; trigger: Trigger }
  /** The instance is stopped (SIGSTOP) for `ms` real ms, from the trigger on. */
  | { kind: 'stall'; slot: number; during: JobName | 'broadcast' | null; trigger: Trigger; ms: number };

export interface Schedule {
  instances: InstanceGen[];
  /** Real ms the fake Bot API takes to answer each call (so runs last long enough to be cut). */
  telegramLatencyMs: number;
  steps: Step[];
}

const lease = CHAOS.leaseMs;
/** Stalls and outages are either clearly shorter than the lease or clearly longer. */
export const SHORT_MAX = 0.4;
export const LONG_MIN = 1.2;

const slot = fc.integer({ min: 0, max: SLOTS - 1 });
const instanceGen: fc.Arbitrary<InstanceGen> = fc.record({
  skew: fc.double({ min: -0.9, max: 0.9, noNaN: true }),
  attemptTimeoutMs: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.integer({ min: 30, max: 300 }) },
  ),
});
const trigger: fc.Arbitrary<Trigger> = fc.oneof(
  fc.constant({ at: 'now' as const }),
  fc.record({ at: fc.constant('delay' as const), ms: fc.integer({ min: 0, max: 150 }) }),
  {
    weight: 5,
    arbitrary: fc.record({
      at: fc.constant('call' as const),
      n: fc.integer({ min: 1, max: 12 }),
      phase: fc.constantFrom('before' as const, 'after' as const),
    }),
  },
);
const shortOrLong = fc.oneof(
  fc.integer({ min: Math.round(0.1 * lease), max: Math.round(SHORT_MAX * lease) }),
  fc.integer({ min: Math.round(LONG_MIN * lease), max: Math.round(2.5 * lease) }),
);
const during = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 4, arbitrary: fc.constant('message-deleter' as const) },
  { weight: 2, arbitrary: fc.constant('broadcast-deleter' as const) },
  { weight: 2, arbitrary: fc.constant('broadcast' as const) },
);
const telegramMethod = fc.constantFrom(null, 'deleteMessages', 'deleteMessage', 'sendMessage', 'copyMessage');

const deliver = fc.record({
  kind: fc.constant('deliver' as const),
  users: fc.uniqueArray(fc.integer({ min: 0, max: USERS - 1 }), { minLength: 1, maxLength: USERS }),
  messages: fc.integer({ min: 1, max: 3 }),
  lifetimeMin: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 30 }) },
    { weight: 2, arbitrary: fc.integer({ min: 30, max: 600 }) },
    { weight: 1, arbitrary: fc.integer({ min: 600, max: SAFE_CONTENT_MINUTES }) },
    { weight: 1, arbitrary: fc.constant(SAFE_CONTENT_MINUTES) },
  ),
});
const broadcast = fc.record({
  kind: fc.constant('broadcast' as const),
  slot,
  lifetimeMin: fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 60 }) },
    { weight: 1, arbitrary: fc.integer({ min: 60, max: SAFE_BROADCAST_MINUTES }) },
    { weight: 1, arbitrary: fc.constant(SAFE_BROADCAST_MINUTES) },
  ),
});
const advance = fc.record({
  kind: fc.constant('advance' as const),
  minutes: fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 30 }) },
    { weight: 4, arbitrary: fc.integer({ min: 30, max: 600 }) },
    { weight: 1, arbitrary: fc.integer({ min: 600, max: 2_880 }) },
  ),
});
const run = fc.record({
  kind: fc.constant('run' as const),
  slot,
  job: fc.constantFrom('message-deleter' as const, 'broadcast-deleter' as const),
});

/** What happens while work is going on: more runs, time, and every kind of fault. */
const activity: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: run },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 80 }) }),
  },
  // Long enough for a dead or stalled instance's claim to run out, so the other one can take over.
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('wait' as const),
      ms: fc.integer({ min: Math.round(1.1 * lease), max: Math.round(1.6 * lease) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('settle' as const) }) },
  { weight: 1, arbitrary: broadcast },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('kill' as const), slot, during, trigger, restart: instanceGen }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('abort' as const),
      slot,
      during,
      trigger,
      restart: instanceGen,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('telegram5xx' as const),
      method: telegramMethod,
      status: fc.constantFrom(500, 502, 503, 504),
      times: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constant(null)),
      ms: fc.integer({ min: 20, max: 400 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('flood' as const),
      method: telegramMethod,
      retryAfter: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 60, max: 900 })),
      times: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('outage' as const), ms: shortOrLong, slot, during, trigger }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('stall' as const), slot, during, trigger, ms: shortOrLong }),
  },
);

/**
 * A fault that makes an instance silent for longer than the lease while it works, then the other
 * instance runs the same job once the claim may be taken over: the situations where two runs
 * could overlap, or a notice be sent twice, if the claim logic were wrong.
 */
const takeover: fc.Arbitrary<Step[]> = fc
  .record({
    slot,
    job: fc.constantFrom('message-deleter' as const, 'broadcast-deleter' as const),
    trigger,
    fault: fc.constantFrom('stall' as const, 'kill' as const, 'outage' as const),
    ms: fc.integer({ min: Math.round(LONG_MIN * lease), max: Math.round(2 * lease) }),
    waitMs: fc.integer({ min: Math.round(0.8 * lease), max: Math.round(1.2 * lease) }),
    restart: instanceGen,
  })
  .map(({ slot: first, job, trigger: when, fault, ms, waitMs, restart }): Step[] => {
    const other = (first + 1) % SLOTS;
    const silence: Step =
      fault === 'stall'
        ? { kind: 'stall', slot: first, during: job, trigger: when, ms }
        : fault === 'kill'
          ? { kind: 'kill', slot: first, during: job, trigger: when, restart }
          : { kind: 'outage', ms, slot: first, during: job, trigger: when };
    return [
      silence,
      { kind: 'wait', ms: waitMs },
      { kind: 'run', slot: other, job },
      { kind: 'wait', ms: Math.round(lease / 5) },
      { kind: 'run', slot: other, job },
    ];
  });

/**
 * An episode: content is delivered (and maybe a broadcast started), the clock moves on so some
 * of it falls due, a deleter run starts, and faults hit while it works.
 */
const episode: fc.Arbitrary<Step[]> = fc
  .tuple(
    fc.array(deliver, { minLength: 1, maxLength: 3 }),
    fc.option(broadcast, { nil: undefined }),
    advance,
    fc.array(
      fc.oneof({ weight: 8, arbitrary: activity.map((one) => [one]) }, { weight: 1, arbitrary: takeover }),
      {
        minLength: 2,
        maxLength: 8,
      },
    ),
  )
  .map(([deliveries, started, moved, rest]) => [
    ...deliveries,
    ...(started ? [started] : []),
    moved,
    ...rest.flat(),
  ]);

export function scheduleArbitrary(options: { maxEpisodes?: number } = {}): fc.Arbitrary<Schedule> {
  return fc.record({
    instances: fc.array(instanceGen, { minLength: SLOTS, maxLength: SLOTS }),
    telegramLatencyMs: fc.integer({ min: 2, max: 25 }),
    steps: fc
      .array(episode, { minLength: 1, maxLength: options.maxEpisodes ?? 3 })
      .map((episodes) => episodes.flat()),
  });
}
