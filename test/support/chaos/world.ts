import { MongoBulkWriteError, MongoClient, type ObjectId } from 'mongodb';
import { TELEGRAM_DELETE_WINDOW_MS } from '../../../bot/deletion/deletion-window.js';
import { type Database, wrapClient } from '../../../db/client.js';
import type { PendingDeletionDoc } from '../../../db/collections.js';
import { COLLECTION_NAMES, type RunDoc } from '../../../db/collections.js';
import { ensureIndexes } from '../../../db/indexes.js';
import type { RunOutcome } from '../../../schedulers/run-executor.js';

import { createLogger, type Logger } from '../../../src/logger.js';
import { type FakeBotApi, startFakeBotApi } from '../fake-bot-api/index.js';
import { type MongoEmulator, startMongoEmulator } from '../mongo-emulator/index.js';
import { VirtualClock } from './clocks.js';
import { FaultBook } from './faults.js';
import { CHAOS, ChaosInstance, type Execution, type InstanceSpec, settlesWithin } from './instance.js';
import { checkInvariants, type WorldFacts } from './invariants.js';
import {
  type InstanceGen,
  type JobName,
  LONG_MIN,
  type Schedule,
  SHORT_MAX,
  type Step,
  type Trigger,
  USERS,
} from './schedule.js';

const RUNS_COLLECTION = COLLECTION_NAMES.runs;

export const ADMIN = 50;
export const FIRST_USER = 1_001;
/** Kept free before Telegram's 48 hours when the test moves the clock: the final sweep's room. */
const CLAMP_MARGIN_MS = 20 * 60_000;

export interface LedgerRecord {
  chatId: number;
  messageIds: number[];
  contentId: string;
  createdAt: number;
  deleteAt: number;
}

export interface LedgerBroadcast {
  sourceMessageId: number;
  owner: string;
  deleteAt: number;
}

/**
 * A moment from which an instance was dead to the others: killed, its exit cutting work short, or
 * silent towards MongoDB for longer than the lease (stalled, or MongoDB down). Each may leave the
 * documented crash window behind: one batch of repeated notices, and up to TELEGRAM_CONCURRENCY
 * unrecorded (or late-recorded) copies per broadcast it was sending.
 */
export interface WindowEvent {
  kind: 'kill' | 'cut exit' | 'long stall' | 'long outage' | 'driver hang';
  at: number;
  /** Broadcasts being sent by the instances concerned at that moment. */
  sendingBroadcasts: number;
}

export interface Interval {
  instance?: string;
  start: number;
  end: number | undefined;
  long: boolean;
}

export interface RunStats {
  steps: Record<string, number>;
  /** Wall time spent in each kind of step. */
  stepMs: Record<string, number>;
  skipped: Record<string, number>;
  kills: number;
  killsMidCall: number;
  aborts: number;
  unsettledExits: number;
  stallsLong: number;
  stallsShort: number;
  outagesLong: number;
  outagesShort: number;
  clampedAdvances: number;
  /** Instances lost to the MongoDB driver's polling-monitor hang (see ChaosInstance.driverMonitorHung). */
  driverHangs: number;
  /** Records whose messages were all gone before the final sweep began. */
  deletedBeforeSweep: number;
  records: number;
  /** Kills (and cut exits) that hit an instance while one of its deleter bodies was running. */
  killsMidRun: number;
  /** Long stalls that began while a deleter body of the instance was running. */
  longStallsMidRun: number;
  runs: Record<string, number>;
  repeatedNotices: number;
  leftCopies: number;
  /** Left copies that were recorded after their broadcast was deleted. */
  orphanedCopies: number;
  /** Copies Telegram accepted after their broadcast's deletion time. */
  copiesAfterExpiry: number;
  excusedOverlaps: number;
  sweepRounds: number;
  maxLoopDelayMs: number;
  /** Times the whole test process stood still for over 100 ms. */
  loopPauses: number;
  ms: number;
  /** Wall time per phase of the run. */
  phaseMs: Record<string, number>;
}

export interface RunResult {
  violations: string[];
  stats: RunStats;
  logs: string[];
}

/**
 * One chaos run: a MongoDB emulator and a fake Bot API owned by the run, bot instances in two
 * slots, the schedule's steps applied one after the other (runs, broadcasts and fault windows go
 * on in the background while later steps happen), then the faults cleared, a healthy instance
 * brought up, the clock moved past every deletion time with the deleters run until nothing is
 * left, and the invariants checked.
 */
export class ChaosWorld {
  readonly clock: VirtualClock;
  readonly logs: string[] = [];
  readonly executions: Execution[] = [];
  readonly kills = new Map<string, number>();
  readonly stalls: Interval[] = [];
  readonly outages: Interval[] = [];
  readonly records: LedgerRecord[] = [];
  readonly broadcasts: LedgerBroadcast[] = [];
  readonly violations: string[] = [];
  readonly windows: WindowEvent[] = [];
  readonly stats: RunStats = {
    steps: {},
    stepMs: {},
    skipped: {},
    kills: 0,
    killsMidCall: 0,
    aborts: 0,
    unsettledExits: 0,
    stallsLong: 0,
    stallsShort: 0,
    outagesLong: 0,
    outagesShort: 0,
    clampedAdvances: 0,
    driverHangs: 0,
    deletedBeforeSweep: 0,
    records: 0,
    killsMidRun: 0,
    longStallsMidRun: 0,
    runs: {},
    repeatedNotices: 0,
    leftCopies: 0,
    orphanedCopies: 0,
    copiesAfterExpiry: 0,
    excusedOverlaps: 0,
    sweepRounds: 0,
    maxLoopDelayMs: 0,
    loopPauses: 0,
    ms: 0,
    phaseMs: {},
  };
  private readonly slots: Array<ChaosInstance | undefined>;
  private readonly instances: ChaosInstance[] = [];
  private readonly generations: number[];
  private readonly background = new Set<Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly faultEnds = new Set<NodeJS.Timeout>();
  private readonly stallSending = new Map<Interval, number>();
  /** Pending triggers: one per slot for its end (kill or stop), one per slot for a stall, one outage. */
  private readonly triggers = new Map<string, () => void>();
  private readonly faults: FaultBook;
  private readonly logger: Logger;
  private contentSeq = 0;
  private broadcastSeq = 0;
  private outageActive = false;
  private outageSending = 0;

  private constructor(
    private readonly schedule: Schedule,
    readonly emulator: MongoEmulator,
    readonly fake: FakeBotApi,
    readonly admin: Database,
    readonly dbName: string,
    clock: VirtualClock,
    private readonly loopWatch: LoopWatch,
  ) {
    this.clock = clock;
    this.faults = new FaultBook(fake);
    this.slots = schedule.instances.map(() => undefined);
    this.generations = schedule.instances.map(() => 0);
    const lines = this.logs;
    this.logger = createLogger({
      level: (process.env.CHAOS_LOG_LEVEL as 'warn' | undefined) ?? 'warn',
      format: 'json',
      destination: {
        write: (line: string) => {
          if (lines.length < 20_000) lines.push(line.trimEnd());
        },
      },
    });
  }

  static async create(schedule: Schedule): Promise<ChaosWorld> {
    const loopWatch = new LoopWatch();
    // Whole seconds: Telegram's message dates are seconds.
    const clock = new VirtualClock(Math.floor(Date.now() / 1000) * 1000);
    const emulator = await startMongoEmulator({ port: 0 });
    const fake = await startFakeBotApi({ now: () => clock.now() });
    const client = new MongoClient(emulator.uri, { directConnection: true, serverSelectionTimeoutMS: 2_000 });
    await client.connect();
    const dbName = 'chaos';
    const admin = wrapClient(client, dbName);
    await ensureIndexes(admin.db);
    const world = new ChaosWorld(schedule, emulator, fake, admin, dbName, clock, loopWatch);
    fake.setLatency('*', schedule.telegramLatencyMs);
    fake.addChat(ADMIN, { user: { id: ADMIN, first_name: 'Admin' } });
    const now = new Date(clock.now());
    const users = [];
    for (let i = 0; i < USERS; i++) {
      const id = FIRST_USER + i;
      fake.addChat(id, { user: { id, first_name: `U${i}` } });
      users.push({
        user_id: id,
        chat_id: id,
        first_name: `U${i}`,
        last_name: null,
        username: null,
        joined_at: now,
        last_seen_at: now,
        blocked_at: null,
      });
    }
    await admin.collections.users.insertMany(users);
    return world;
  }

  /** Runs the schedule, the final sweep and the checks; always releases everything. */
  async execute(): Promise<RunResult> {
    const started = Date.now();
    let phaseStart = started;
    const phase = (name: string) => {
      const now = Date.now();
      this.stats.phaseMs[name] = now - phaseStart;
      phaseStart = now;
    };
    const watchdog = setInterval(() => this.watchDrivers(), 50);
    try {
      const first = await Promise.all(
        this.schedule.instances.map((gen, slot) => this.startInstance(slot, gen)),
      );
      first.forEach((instance, slot) => {
        this.slots[slot] = instance;
      });
      phase('start');
      for (const step of this.schedule.steps) {
        this.stats.steps[step.kind] = (this.stats.steps[step.kind] ?? 0) + 1;
        const stepStart = Date.now();
        await this.apply(step);
        this.stats.stepMs[step.kind] = (this.stats.stepMs[step.kind] ?? 0) + Date.now() - stepStart;
        await this.sampleRunningClaims();
      }
      phase('schedule');
      await this.clearFaults();
      phase('clear');
      this.stats.records = this.records.length;
      this.stats.deletedBeforeSweep = this.records.filter((record) =>
        record.messageIds.every((id) => !this.visible(record.chatId, id)),
      ).length;
      const healthy = await this.startInstance(this.slots.length, { skew: 0, attemptTimeoutMs: null });
      await this.finalSweep(healthy);
      phase('sweep');
      await this.sampleRunningClaims();
      const running = (instance: string, at: number) =>
        this.executions.some((e) => e.instance === instance && e.start <= at && (e.end ?? Infinity) > at);
      this.stats.killsMidRun = [...this.kills].filter(([instance, at]) => running(instance, at)).length;
      this.stats.longStallsMidRun = this.stalls.filter(
        (stall) => stall.long && running(stall.instance as string, stall.start),
      ).length;
      const facts = await this.facts();
      this.violations.push(...checkInvariants(facts, this.stats));
      phase('check');
    } catch (error) {
      this.violations.push(`the run itself failed: ${(error as Error).stack ?? String(error)}`);
    } finally {
      clearInterval(watchdog);
      phaseStart = Date.now();
      await this.teardown();
      phase('teardown');
      this.loopWatch.stop();
      this.stats.maxLoopDelayMs = this.loopWatch.maxMs;
      this.stats.loopPauses = this.loopWatch.pauses.filter((p) => (p.end ?? p.start) - p.start > 100).length;
      this.stats.ms = Date.now() - started;
    }
    return { violations: [...this.violations], stats: this.stats, logs: this.logs };
  }

  // --- steps ------------------------------------------------------------------------------------

  private async apply(step: Step): Promise<void> {
    switch (step.kind) {
      case 'deliver':
        return this.deliver(step.users, step.messages, step.lifetimeMin);
      case 'broadcast':
        return this.startBroadcast(step.slot, step.lifetimeMin);
      case 'advance':
        return this.advance(step.minutes * 60_000);
      case 'run': {
        const instance = this.live(step.slot);
        if (!instance) return this.skip('run');
        void instance.run(step.job).then((outcome) => this.countRun(step.job, outcome));
        return;
      }
      case 'wait':
        return sleep(step.ms);
      case 'settle':
        await settlesWithin(
          Promise.all(this.instances.filter((i) => i.isLive).map((i) => i.idleWithin(3_000))),
          3_000,
        );
        return;
      case 'kill':
        await this.startDuring(step.slot, step.during);
        return this.arm(`${step.slot}:end`, step.slot, step.trigger, (midCall) =>
          this.kill(step.slot, step.restart, midCall),
        );
      case 'abort':
        await this.startDuring(step.slot, step.during);
        return this.arm(`${step.slot}:end`, step.slot, step.trigger, () =>
          this.abort(step.slot, step.restart),
        );
      case 'telegram5xx': {
        const spec = { ...(step.method === null ? {} : { method: step.method }), status: step.status };
        if (step.times !== null) {
          this.faults.counted({ ...spec, times: step.times });
          return;
        }
        const token = this.faults.openWindow(spec);
        this.after(step.ms, () => this.faults.closeWindow(token), true);
        return;
      }
      case 'flood':
        this.faults.counted({
          ...(step.method === null ? {} : { method: step.method }),
          status: 429,
          retryAfter: step.retryAfter,
          times: step.times,
        });
        return;
      case 'outage':
        await this.startDuring(step.slot, step.during);
        return this.arm('outage', step.slot, step.trigger, () => this.track(this.outage(step.ms)));
      case 'stall':
        await this.startDuring(step.slot, step.during);
        return this.arm(`${step.slot}:stall`, step.slot, step.trigger, () => this.stall(step.slot, step.ms));
    }
  }

  /** Something for a kill or a stop to interrupt. */
  private async startDuring(slot: number, during: JobName | 'broadcast' | null): Promise<void> {
    if (during === 'broadcast') return this.startBroadcast(slot, 30);
    const instance = this.live(slot);
    if (during === null || !instance) return;
    void instance.run(during).then((outcome) => this.countRun(during, outcome));
  }

  private async deliver(users: number[], messages: number, lifetimeMin: number): Promise<void> {
    // Delivery writes the record first (ContentService): with MongoDB down nothing is delivered.
    if (!this.emulator.running) return this.skip('deliver');
    const createdAt = this.clock.now();
    const docs: PendingDeletionDoc[] = [];
    for (const user of users) {
      const chatId = FIRST_USER + user;
      const messageIds = this.fake.seedMessages(chatId, messages, { date: Math.floor(createdAt / 1000) });
      const contentId = `cnt${String(this.contentSeq++).padStart(6, '0')}x`;
      const record = { chatId, messageIds, contentId, createdAt, deleteAt: createdAt + lifetimeMin * 60_000 };
      this.records.push(record);
      docs.push({
        user_id: chatId,
        chat_id: chatId,
        message_ids: messageIds,
        delete_at: new Date(record.deleteAt),
        content_id: contentId,
        created_at: new Date(createdAt),
      });
    }
    // The test's own writes must land (the messages are in the chats already): an outage that an
    // instance's call triggered just now is waited out; documents a lost answer did insert are
    // recognised by their _id.
    await this.observe(async () => {
      try {
        await this.admin.collections.pendingDeletions.insertMany(docs, { ordered: false });
      } catch (error) {
        if (!onlyDuplicates(error)) throw error;
      }
    });
  }

  private async startBroadcast(slot: number, lifetimeMin: number): Promise<void> {
    const instance = this.live(slot);
    if (!instance) return this.skip('broadcast');
    const [sourceMessageId] = this.fake.seedMessages(ADMIN, [`Broadcast ${this.broadcastSeq++}`], {
      from: { id: ADMIN, first_name: 'Admin' },
    });
    // /broadcast computes the deletion time with the instance's clock.
    const deleteAt = this.clock.now() + instance.spec.skewMs + lifetimeMin * 60_000;
    this.broadcasts.push({ sourceMessageId: sourceMessageId as number, owner: instance.id, deleteAt });
    void instance.broadcast({
      adminId: ADMIN,
      adminChatId: ADMIN,
      sourceChatId: ADMIN,
      sourceMessageId: sourceMessageId as number,
      deleteAt: new Date(deleteAt),
    });
  }

  /**
   * Moves the world's clock on, but never past the point where the final sweep could no longer
   * delete what is still visible (48 hours after it was sent, less a margin): the promise holds
   * while some instance runs its deleter at its period, which the test does only at the end.
   */
  private async advance(ms: number): Promise<void> {
    // The limit needs the recorded broadcast copies; with MongoDB down the clock waits.
    if (!this.emulator.running) return this.skip('advance');
    const target = this.clock.now() + ms;
    const limit = await this.clockLimit();
    if (limit < target) this.stats.clampedAdvances += 1;
    this.clock.advanceTo(Math.min(target, limit));
  }

  /** The latest the clock may reach: 48 h (less the margin) after the oldest thing still to delete. */
  async clockLimit(): Promise<number> {
    let limit = Number.POSITIVE_INFINITY;
    for (const record of this.records) {
      if (record.messageIds.some((id) => this.visible(record.chatId, id))) {
        limit = Math.min(limit, record.createdAt + TELEGRAM_DELETE_WINDOW_MS - CLAMP_MARGIN_MS);
      }
    }
    const recorded = new Set(
      (await this.observe(() => this.admin.collections.broadcastMessages.find({}).toArray())).map(
        (copy) => `${copy.chat_id}:${copy.message_id}`,
      ),
    );
    const liveOwners = new Set(this.instances.filter((i) => i.isLive).map((i) => i.id));
    const ownerOf = new Map(this.broadcasts.map((b) => [b.sourceMessageId, b.owner]));
    for (const copy of this.visibleCopies()) {
      // A copy no record knows of, whose sender is gone, will never be deleted (the documented
      // crash window): it does not hold the clock back. Copies of a live sender may be on their way
      // to the database.
      const owner = ownerOf.get(copy.sourceMessageId);
      if (!recorded.has(`${copy.chatId}:${copy.messageId}`) && !(owner && liveOwners.has(owner))) continue;
      limit = Math.min(limit, copy.date * 1000 + TELEGRAM_DELETE_WINDOW_MS - CLAMP_MARGIN_MS);
    }
    return limit;
  }

  private arm(key: string, slot: number, trigger: Trigger, action: (midCall: boolean) => void): void {
    const instance = this.live(slot);
    if (!instance) {
      this.skip('trigger');
      return;
    }
    // A later trigger of the same kind replaces one not yet fired.
    this.triggers.delete(key);
    let fired = false;
    const hooks = instance.link.hooks;
    const fire = (midCall: boolean) => {
      if (fired || this.triggers.get(key) !== fireLater || this.slots[slot] !== instance) return;
      fired = true;
      this.triggers.delete(key);
      hooks.delete(hook);
      action(midCall);
    };
    const fireLater = () => fire(false);
    this.triggers.set(key, fireLater);
    const target = instance.link.requestsSent + (trigger.at === 'call' ? trigger.n : 0);
    const hook = {
      onRequest: (n: number) => {
        if (trigger.at === 'call' && trigger.phase === 'before' && n === target) fire(true);
      },
      onAnswer: (n: number) => {
        if (trigger.at === 'call' && trigger.phase === 'after' && n === target) fire(true);
      },
    };
    if (trigger.at === 'now') fire(false);
    else if (trigger.at === 'delay') this.after(trigger.ms, () => fire(false));
    else hooks.add(hook);
  }

  /**
   * An instance whose MongoClient hit the driver's monitor hang can never reach MongoDB again: it
   * is dead to the world (like a process cut off for good), so it is killed and replaced, and the
   * moment counts as a crash window.
   */
  private watchDrivers(): void {
    for (const instance of this.instances) {
      if (!instance.isLive || !instance.driverMonitorHung) continue;
      this.stats.driverHangs += 1;
      const slot = this.slots.indexOf(instance);
      const sendingBroadcasts = instance.sendingBroadcasts;
      // Cut off from MongoDB since the monitor hung, whatever its code did afterwards.
      const since = instance.driverHungSince ?? Date.now();
      this.kills.set(instance.id, since);
      this.windows.push({ kind: 'driver hang', at: since, sendingBroadcasts });
      instance.kill();
      this.endStall(instance);
      if (slot >= 0) {
        this.slots[slot] = undefined;
        this.restart(slot, { skew: 0, attemptTimeoutMs: null });
      }
    }
  }

  private kill(slot: number, restart: InstanceGen, midCall: boolean): void {
    const instance = this.slots[slot];
    if (!instance?.isLive) return;
    this.slots[slot] = undefined;
    const sendingBroadcasts = instance.sendingBroadcasts;
    instance.kill();
    this.kills.set(instance.id, Date.now());
    this.windows.push({ kind: 'kill', at: Date.now(), sendingBroadcasts });
    this.endStall(instance);
    this.stats.kills += 1;
    if (midCall) this.stats.killsMidCall += 1;
    this.restart(slot, restart);
  }

  private abort(slot: number, restart: InstanceGen): void {
    const instance = this.slots[slot];
    if (!instance?.isLive) return;
    this.slots[slot] = undefined;
    this.stats.aborts += 1;
    const databaseDown = this.outageActive;
    const sendingBroadcasts = instance.sendingBroadcasts;
    this.track(
      instance.stop().then((settled) => {
        this.endStall(instance);
        // Work still going when the process exits is cut short as by a kill; so are writes that
        // could not be made because MongoDB was down while it stopped.
        if (!settled || databaseDown || this.outageActive) {
          this.stats.unsettledExits += 1;
          this.kills.set(instance.id, Date.now());
          this.windows.push({ kind: 'cut exit', at: Date.now(), sendingBroadcasts });
        }
      }),
    );
    this.restart(slot, restart);
  }

  private restart(slot: number, gen: InstanceGen): void {
    this.track(
      this.startInstance(slot, gen).then(
        (instance) => {
          if (this.slots[slot] === undefined) this.slots[slot] = instance;
          else void instance.close();
        },
        () => this.skip('restart'),
      ),
    );
  }

  private async outage(ms: number): Promise<void> {
    if (!this.emulator.running) return this.skip('outage');
    const interval: Interval = { start: Date.now(), end: undefined, long: ms >= LONG_MIN * CHAOS.leaseMs };
    this.outages.push(interval);
    this.outageActive = true;
    this.outageSending = this.instances
      .filter((instance) => instance.isLive)
      .reduce((sum, instance) => sum + instance.sendingBroadcasts, 0);
    await this.emulator.stop();
    this.after(ms, () => this.endOutage(), true);
  }

  private async endOutage(): Promise<void> {
    if (this.emulator.running) return;
    await this.emulator.start();
    this.outageActive = false;
    const open = this.outages.find((interval) => interval.end === undefined);
    if (!open) return;
    open.end = Date.now();
    open.long = isLong(open);
    if (open.long) {
      this.stats.outagesLong += 1;
      this.windows.push({ kind: 'long outage', at: open.start, sendingBroadcasts: this.outageSending });
    } else this.stats.outagesShort += 1;
  }

  private stall(slot: number, ms: number): void {
    const instance = this.live(slot);
    if (!instance || instance.proxy.isStalled) {
      this.skip('stall');
      return;
    }
    const interval: Interval = {
      instance: instance.id,
      start: Date.now(),
      end: undefined,
      long: ms >= LONG_MIN * CHAOS.leaseMs,
    };
    this.stalls.push(interval);
    this.stallSending.set(interval, instance.sendingBroadcasts);
    instance.stall();
    this.after(ms, () => this.endStall(instance), true);
  }

  private endStall(instance: ChaosInstance): void {
    const open = this.stalls.find(
      (interval) => interval.instance === instance.id && interval.end === undefined,
    );
    if (!open) return;
    open.end = Date.now();
    open.long = isLong(open);
    if (open.long) {
      this.stats.stallsLong += 1;
      this.windows.push({
        kind: 'long stall',
        at: open.start,
        sendingBroadcasts: this.stallSending.get(open) ?? 0,
      });
    } else this.stats.stallsShort += 1;
    instance.resume();
  }

  // --- the end of a schedule ----------------------------------------------------------------------

  /** Pending kills and stops happen now; every fault ends; what runs is given time to finish. */
  private async clearFaults(): Promise<void> {
    // Kills and stops still due happen now; stalls and outages still due do not start any more.
    for (const [key, fire] of [...this.triggers]) if (key.endsWith(':end')) fire();
    this.triggers.clear();
    // Stalls, outages and 5xx windows in progress last as long as the schedule said.
    const until = Date.now() + 5_000;
    while (this.faultEnds.size > 0 && Date.now() < until) await sleep(10);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.faultEnds.clear();
    await this.endOutage();
    for (const instance of this.instances) this.endStall(instance);
    this.faults.clear();
    this.fake.setLatency('*', 0);
    await settlesWithin(Promise.allSettled([...this.background]), 5_000);
    const live = this.instances.filter((instance) => instance.isLive);
    // Database writes back off up to 5 s between attempts (persist), in real time: after an outage a
    // broadcast's pending writes may take a few seconds to land.
    const idle = await Promise.all(live.map((instance) => instance.idleWithin(15_000)));
    live.forEach((instance, i) => {
      if (!idle[i])
        this.violations.push(`instance ${instance.id} still busy 15 s after every fault was cleared`);
    });
  }

  /**
   * Moves the clock past every deletion time (in steps, never beyond what is still deletable) and
   * runs both deleters on the healthy instance until they find nothing more to do.
   */
  private async finalSweep(healthy: ChaosInstance): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      this.stats.sweepRounds += 1;
      const records = await this.observe(() => this.admin.collections.pendingDeletions.find({}).toArray());
      const broadcasts = await this.observe(() => this.admin.collections.broadcasts.find({}).toArray());
      if (records.length === 0 && broadcasts.length === 0) return;
      if (Date.now() > deadline) {
        this.violations.push(
          `not quiescent: after 20 s of sweeping, ${records.length} pending deletion(s) and ${broadcasts.length} broadcast(s) are left: ${JSON.stringify({ records, broadcasts })}`,
        );
        return;
      }
      const latest = Math.max(
        ...records.map((record) => record.delete_at.getTime()),
        ...broadcasts.map((broadcast) => broadcast.delete_at.getTime()),
      );
      // Past every deletion time whatever the healthy instance's skew, within what is deletable.
      this.clock.advanceTo(Math.min(latest + 2 * CHAOS.leaseMs + 1_000, await this.clockLimit()));
      const quiet =
        (await this.runUntilQuiet(healthy, 'message-deleter', deadline)) &&
        (await this.runUntilQuiet(healthy, 'broadcast-deleter', deadline));
      // A sending broadcast of a dead sender waits for the sweep (half a lease) before it can go.
      if (quiet) await sleep(CHAOS.leaseMs / 4);
    }
  }

  private async runUntilQuiet(instance: ChaosInstance, job: string, deadline: number): Promise<boolean> {
    while (Date.now() < deadline) {
      const outcome = await instance.runtime.runNow(job).catch(() => undefined);
      this.countRun(job, outcome);
      if (outcome?.status === 'succeeded' && Object.values(outcome.result ?? {}).every((n) => n === 0))
        return true;
      // Skipped while a dead instance's claim waits for its lease to run out, or a failed attempt.
      if (outcome?.status !== 'succeeded') await sleep(20);
    }
    return false;
  }

  private async facts(): Promise<WorldFacts> {
    const runs = await this.observe(() =>
      this.admin.db.collection<RunDoc>(RUNS_COLLECTION).find({}).toArray(),
    );
    const pending = await this.observe(() => this.admin.collections.pendingDeletions.find({}).toArray());
    const copiesLeft = await this.observe(() => this.admin.collections.broadcastMessages.find({}).toArray());
    const deleteAtOf = new Map(
      this.broadcasts.map((broadcast) => [broadcast.sourceMessageId, broadcast.deleteAt]),
    );
    this.stats.copiesAfterExpiry = this.allCopies().filter(
      (copy) => copy.date * 1000 > (deleteAtOf.get(copy.sourceMessageId) ?? Number.POSITIVE_INFINITY) + 1_000,
    ).length;
    return {
      fake: this.fake,
      botUsername: this.fake.botInfo.username,
      records: this.records,
      broadcasts: this.broadcasts,
      visibleCopies: this.visibleCopies(),
      pending: pending.map((doc) => ({
        id: (doc._id as ObjectId).toHexString(),
        chatId: doc.chat_id,
        messageIds: doc.message_ids,
        deleteAt: doc.delete_at.getTime(),
      })),
      recordedLeft: copiesLeft.map((copy) => ({
        chatId: copy.chat_id,
        messageId: copy.message_id,
        broadcastId: copy.broadcast_id.toHexString(),
      })),
      runs,
      executions: this.executions,
      kills: this.kills,
      stalls: this.stalls,
      outages: this.outages,
      windows: this.windows,
      pauses: this.loopWatch.pauses,
      now: this.clock.now(),
    };
  }

  private async teardown(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (!this.emulator.running) await this.emulator.start().catch(() => undefined);
    for (const instance of this.instances) instance.resume();
    await Promise.allSettled([...this.background]);
    await Promise.allSettled(this.instances.map((instance) => instance.close()));
    await this.admin.close().catch(() => undefined);
    await this.emulator.close().catch(() => undefined);
    await this.fake.stop().catch(() => undefined);
  }

  // --- helpers ----------------------------------------------------------------------------------

  /**
   * The test's own database access (its observer client, straight to the emulator): retried through
   * the outages the schedule causes and the stale connections they leave, for up to 10 s.
   */
  private async observe<T>(read: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        return await read();
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(this.emulator.running ? 20 : 50);
      }
    }
  }

  private async startInstance(slot: number, gen: InstanceGen): Promise<ChaosInstance> {
    const generation = (this.generations[slot] ?? 0) + 1;
    this.generations[slot] = generation;
    const spec: InstanceSpec = {
      id: `i${slot}.${generation}`,
      skewMs: Math.round(gen.skew * CHAOS.leaseMs),
      attemptTimeoutMs: gen.attemptTimeoutMs ?? undefined,
    };
    const instance = await ChaosInstance.start(spec, {
      emulator: { host: '127.0.0.1', port: this.emulator.port },
      apiRoot: this.fake.apiRoot,
      token: this.fake.token,
      botUsername: this.fake.botInfo.username,
      dbName: this.dbName,
      clock: this.clock,
      logger: this.logger,
      onExecution: (execution) => this.executions.push(execution),
    });
    this.instances.push(instance);
    return instance;
  }

  private live(slot: number): ChaosInstance | undefined {
    const instance = this.slots[slot];
    return instance?.isLive ? instance : undefined;
  }

  private visible(chatId: number, messageId: number): boolean {
    return this.fake.messages(chatId).some((message) => message.message_id === messageId);
  }

  /** Broadcast copies still visible in users' chats. */
  visibleCopies(): Array<{ chatId: number; messageId: number; sourceMessageId: number; date: number }> {
    return this.allCopies(false);
  }

  /** Broadcast copies ever sent to users (deleted ones too unless `withDeleted` is false). */
  allCopies(
    withDeleted = true,
  ): Array<{ chatId: number; messageId: number; sourceMessageId: number; date: number }> {
    const copies = [];
    for (let i = 0; i < USERS; i++) {
      const chatId = FIRST_USER + i;
      const view = this.fake.chat(chatId);
      const messages = withDeleted
        ? [...view.messages, ...view.deleted.map((entry) => entry.message)]
        : view.messages;
      for (const message of messages) {
        if (message.copied_from?.chat_id !== ADMIN) continue;
        copies.push({
          chatId,
          messageId: message.message_id,
          sourceMessageId: message.copied_from.message_id,
          date: message.date,
        });
      }
    }
    return copies;
  }

  private countRun(job: string, outcome: RunOutcome | undefined): void {
    const key = `${job}:${outcome?.status ?? 'error'}`;
    this.stats.runs[key] = (this.stats.runs[key] ?? 0) + 1;
  }

  private skip(what: string): void {
    this.stats.skipped[what] = (this.stats.skipped[what] ?? 0) + 1;
  }

  /** Runs `action` after `ms`; `endsFault`: it ends a fault window, which the final phase waits for. */
  private after(ms: number, action: () => unknown, endsFault = false): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.faultEnds.delete(timer);
      this.track(Promise.resolve().then(action));
    }, ms);
    this.timers.add(timer);
    if (endsFault) this.faultEnds.add(timer);
  }

  private track(work: Promise<unknown>): void {
    const guarded = work.catch((error: unknown) => {
      this.violations.push(`background step failed: ${(error as Error).stack ?? String(error)}`);
    });
    this.background.add(guarded);
    void guarded.finally(() => this.background.delete(guarded));
  }

  private async sampleRunningClaims(): Promise<void> {
    if (!this.emulator.running) return;
    const rows = await this.admin.db
      .collection<RunDoc>(RUNS_COLLECTION)
      .aggregate<{ _id: string; n: number; ids: string[] }>([
        { $match: { status: 'running' } },
        { $group: { _id: '$job', n: { $sum: 1 }, ids: { $push: '$_id' } } },
      ])
      .toArray()
      .catch(() => []);
    for (const row of rows) {
      if (row.n > 1)
        this.violations.push(
          `scheduler_runs holds ${row.n} running claims of ${row._id}: ${row.ids.join(', ')}`,
        );
    }
  }
}

function onlyDuplicates(error: unknown): boolean {
  if (!(error instanceof MongoBulkWriteError)) return false;
  const errors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
  return errors.length > 0 && errors.every((writeError) => writeError.code === 11000);
}

/**
 * Whether a stall or an outage may have cost a claim its lease. Generated ones are either at most
 * SHORT_MAX of the lease or at least LONG_MIN; one cut short by a kill (or by the end of the run)
 * may land between, and counts as long: it is not clearly harmless.
 */
function isLong(interval: Interval): boolean {
  return (interval.end ?? Date.now()) - interval.start > SHORT_MAX * CHAOS.leaseMs;
}

/**
 * Notices when this test process itself stops running for a while (garbage collection, a busy
 * machine): every instance and the emulator stop together then, which is a stall of the whole
 * deployment. Recorded so that a failure can be told apart from one.
 */
export class LoopWatch {
  readonly pauses: Interval[] = [];
  maxMs = 0;
  private last = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly thresholdMs = 60) {
    this.timer = setInterval(() => {
      const now = Date.now();
      const gap = now - this.last;
      this.last = now;
      this.maxMs = Math.max(this.maxMs, gap);
      if (gap > this.thresholdMs) this.pauses.push({ start: now - gap, end: now, long: false });
    }, 5);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
