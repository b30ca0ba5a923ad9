import type { Update } from 'grammy/types';
import type { Logger } from 'pino';
import type { ClaimedUpdate, UpdateInboxRepository } from '../../db/repositories/update-inbox.js';
import { sequenceKey } from './sequence-key.js';

export interface UpdateDispatcherOptions {
  inbox: UpdateInboxRepository;
  /** Handles one update; `bot.handleUpdate` (its errors end at the bot's error boundary). */
  handle(update: Update): Promise<unknown>;
  instanceId: string;
  /** How long a claim lasts without renewal; another instance takes the update over after that. */
  leaseMs: number;
  /** Updates handled at once by this instance. */
  concurrency: number;
  /** How often to look for updates nobody took and for claims of dead instances. */
  sweepEveryMs?: number;
  logger: Logger;
}

/**
 * Handles the updates recorded in the inbox, on any number of instances sharing one database,
 * each update once and a key's updates one at a time in update_id order. Receiving (accept) only
 * records the update, so the receiver can answer Telegram at once however long handling takes;
 * the update is then claimed and handled here, by whichever instance claims it first. After an
 * update the same key's next pending one is claimed; a periodic sweep picks up what nobody took
 * (this instance was full, or the receiving instance stopped) and updates whose owner died.
 */
export class UpdateDispatcher {
  private readonly inHand = new Map<number, Promise<void>>();
  /** Keys that may have pending updates, looked at as local slots free up. */
  private readonly wanted = new Set<string>();
  private claiming = 0;
  private stopped = true;
  private sweeping = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: UpdateDispatcherOptions) {}

  /** Sweeps once (updates left by instances that stopped) and then every `sweepEveryMs`. */
  async start(): Promise<void> {
    this.stopped = false;
    const { leaseMs } = this.options;
    const sweep = setInterval(() => void this.sweep(), this.options.sweepEveryMs ?? 1_000);
    const renew = setInterval(() => void this.renew(), Math.max(200, Math.floor(leaseMs / 3)));
    sweep.unref();
    renew.unref();
    this.timers = [sweep, renew];
    await this.sweep();
  }

  /**
   * Records a received update and, when this instance has room, starts handling it (not waited
   * for). False for an update recorded before: a redelivery, or a copy another instance got.
   */
  async accept(update: Update): Promise<boolean> {
    const key = sequenceKey(update);
    const recorded = await this.options.inbox.record(update, key);
    if (recorded) this.want(key);
    return recorded;
  }

  /** Updates this instance is handling right now. */
  get busy(): number {
    return this.inHand.size;
  }

  /**
   * Takes no new updates and waits for the ones in hand until `budgetMs` has passed. An update
   * still running then keeps its claim, which runs out unrenewed, so another instance takes it.
   */
  async stop(budgetMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.wanted.clear();
    const all = Promise.all(this.inHand.values()).then(() => undefined);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, budgetMs);
      timer.unref();
      all.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.inHand.size > 0) {
      this.options.logger.warn(
        { updates: [...this.inHand.keys()] },
        'stopped with updates still being handled; another instance takes them over when their claims run out',
      );
    }
  }

  private get hasRoom(): boolean {
    return this.inHand.size + this.claiming < this.options.concurrency;
  }

  private want(key: string): void {
    if (this.stopped) return;
    this.wanted.add(key);
    this.pump();
  }

  private pump(): void {
    for (const key of this.wanted) {
      if (this.stopped || !this.hasRoom) return;
      this.wanted.delete(key);
      void this.claimAndRun(key);
    }
  }

  private async claimAndRun(key: string): Promise<void> {
    const { inbox, instanceId, leaseMs, logger } = this.options;
    this.claiming++;
    let claimed: ClaimedUpdate | undefined;
    try {
      claimed = await inbox.claimNext(key, instanceId, leaseMs);
    } catch (error) {
      // The sweep comes back to the key.
      logger.warn({ err: error }, 'could not claim an update');
    } finally {
      this.claiming--;
    }
    if (claimed && this.stopped) {
      await inbox.release([claimed.updateId], instanceId).catch(() => undefined);
      return;
    }
    if (claimed) this.run(claimed);
    else this.pump();
  }

  private run(claimed: ClaimedUpdate): void {
    const { inbox, instanceId, handle, logger } = this.options;
    const { updateId, key } = claimed;
    const work = (async () => {
      if (claimed.attempts > 1) {
        logger.warn(
          { updateId, attempts: claimed.attempts },
          'handling an update an instance stopped handling',
        );
      }
      try {
        await handle(claimed.update as unknown as Update);
      } catch (error) {
        // The bot's error boundary logs handler errors; this is what got past it.
        logger.error({ err: error, updateId }, 'update handler failed; the update counts as handled');
      }
      try {
        if (!(await inbox.finish(updateId, instanceId))) {
          logger.error({ updateId }, 'an update was finished after its claim had been lost');
        }
      } catch (error) {
        // Left handling: once its lease runs out another instance handles it again.
        logger.error({ err: error, updateId }, 'could not mark an update done');
      }
    })().finally(() => {
      this.inHand.delete(updateId);
      this.want(key);
      this.pump();
    });
    this.inHand.set(updateId, work);
  }

  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return;
    this.sweeping = true;
    const { inbox, instanceId, leaseMs, concurrency, logger } = this.options;
    try {
      while (!this.stopped && this.hasRoom) {
        const orphan = await inbox.takeOverExpired(instanceId, leaseMs);
        if (!orphan) break;
        this.run(orphan);
      }
      if (!this.stopped && this.hasRoom) {
        for (const key of await inbox.pendingKeys(concurrency * 2)) this.wanted.add(key);
        this.pump();
      }
    } catch (error) {
      logger.warn({ err: error }, 'could not look for updates waiting to be handled');
    } finally {
      this.sweeping = false;
    }
  }

  private async renew(): Promise<void> {
    const ids = [...this.inHand.keys()];
    if (ids.length === 0) return;
    const { inbox, instanceId, leaseMs, logger } = this.options;
    try {
      const held = await inbox.renew(ids, instanceId, leaseMs);
      // Updates finished meanwhile are no longer held either; only the ones still in hand count.
      const stillInHand = ids.filter((id) => this.inHand.has(id)).length;
      if (held < stillInHand) logger.error({ held, stillInHand }, 'lost the claim on updates being handled');
    } catch (error) {
      logger.warn({ err: error }, 'could not renew the claims on updates being handled');
    }
  }
}
