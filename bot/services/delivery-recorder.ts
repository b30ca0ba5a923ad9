import { MongoBulkWriteError, MongoServerError, ObjectId } from 'mongodb';
import type { BroadcastsRepository, DeliveredCopy } from '../../db/repositories/broadcasts.js';
import type { UsersRepository } from '../../db/repositories/users.js';
import { countDaily, type StatsTarget } from './daily-stats.js';
import { type PersistOptions, persist } from './persistent-write.js';

export interface RecorderOptions {
  broadcasts: BroadcastsRepository;
  users: UsersRepository;
  broadcastId: ObjectId;
  clock: () => Date;
  persist: Omit<PersistOptions, 'signal'>;
  /** Ends the retrying of writes that are still pending (process shutdown). */
  signal: AbortSignal;
  /** Daily statistics: copies delivered, blocked and failed, users newly found blocked. */
  stats?: StatsTarget;
}

interface Pending {
  copies: (DeliveredCopy & { _id: ObjectId })[];
  blockedChats: number[];
  failed: number;
  done: Array<() => void>;
}

const DUPLICATE_KEY = 11000;

/**
 * Records what a broadcast's senders did, as a group commit: each sender waits until its copy is
 * written before it sends the next one, so at any moment at most one copy per sender (the
 * concurrency) is sent but not yet recorded, while the writes of senders finishing together go to
 * MongoDB in one round trip. A write that fails is retried until it succeeds (see persist).
 */
export class DeliveryRecorder {
  private pending: Pending = { copies: [], blockedChats: [], failed: 0, done: [] };
  private flushing: Promise<void> | undefined;
  private readonly lost: DeliveredCopy[] = [];

  constructor(private readonly options: RecorderOptions) {}

  /**
   * Copies that were sent but could not be recorded before the process had to stop (the
   * database was down throughout): nobody will delete them, so the broadcaster logs them.
   */
  get lostCopies(): readonly DeliveredCopy[] {
    return this.lost;
  }

  /** Resolves once the copy is recorded; until then the caller must not send another. */
  delivered(copy: DeliveredCopy): Promise<void> {
    return this.enqueue((pending) => pending.copies.push({ ...copy, _id: new ObjectId() }));
  }

  blocked(chatId: number): Promise<void> {
    return this.enqueue((pending) => pending.blockedChats.push(chatId));
  }

  failed(): Promise<void> {
    return this.enqueue((pending) => {
      pending.failed += 1;
    });
  }

  /** Resolves when everything handed over so far is written. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private enqueue(add: (pending: Pending) => void): Promise<void> {
    return new Promise<void>((resolve) => {
      add(this.pending);
      this.pending.done.push(resolve);
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    const flushing = this.flushAll();
    this.flushing = flushing;
    void flushing.finally(() => {
      this.flushing = undefined;
      // Something may have arrived between the last check and now.
      if (this.pending.done.length > 0) this.scheduleFlush();
    });
  }

  private async flushAll(): Promise<void> {
    // Entries arriving while a write is in flight wait for the next one, together.
    await Promise.resolve();
    while (this.pending.done.length > 0) {
      const batch = this.pending;
      this.pending = { copies: [], blockedChats: [], failed: 0, done: [] };
      try {
        await this.write(batch);
      } catch {
        // Only shutdown ends the retrying: what was not written is reported, and the senders
        // waiting on it are let go (they stop, the broadcast is stopping).
        this.lost.push(...batch.copies.map(({ _id: _ignored, ...copy }) => copy));
      }
      for (const resolve of batch.done) resolve();
    }
  }

  private async write(batch: Pending): Promise<void> {
    const { broadcasts, users, broadcastId, clock } = this.options;
    const options = { ...this.options.persist, signal: this.options.signal };
    // Each step on its own, so a retry does not repeat the steps that already went through.
    await persist(() => insertCopies(broadcasts, broadcastId, batch.copies), options);
    await persist(
      () =>
        broadcasts.addCounts(broadcastId, {
          delivered: batch.copies.length,
          blocked: batch.blockedChats.length,
          failed: batch.failed,
        }),
      options,
    );
    const newlyBlocked = await persist(() => users.markBlockedByChat(batch.blockedChats, clock()), options);
    if (this.options.stats) {
      await countDaily(this.options.stats, clock(), {
        counts: {
          broadcast_delivered: batch.copies.length,
          broadcast_blocked: batch.blockedChats.length,
          broadcast_failed: batch.failed,
          users_blocked: newlyBlocked,
        },
      });
    }
  }
}

/** Copies carry their own `_id`, so a retried insert skips the ones that made it the first time. */
async function insertCopies(
  broadcasts: BroadcastsRepository,
  broadcastId: ObjectId,
  copies: (DeliveredCopy & { _id: ObjectId })[],
): Promise<void> {
  try {
    await broadcasts.recordDeliveries(broadcastId, copies);
  } catch (error) {
    if (onlyDuplicates(error)) return;
    throw error;
  }
}

function onlyDuplicates(error: unknown): boolean {
  if (error instanceof MongoBulkWriteError) {
    const errors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
    return errors.length > 0 && errors.every((writeError) => writeError.code === DUPLICATE_KEY);
  }
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY;
}
