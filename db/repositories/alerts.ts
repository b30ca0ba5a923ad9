import { randomUUID } from 'node:crypto';
import { type Collection, MongoServerError } from 'mongodb';
import { literally, notAfterServerNow, serverNowPlus } from '../server-time.js';

export interface AlertDoc {
  /** The alert key, e.g. `job-failing:message-deleter` or `deletion-lag`. */
  _id: string;
  active: boolean;
  /** One line on what is wrong, for logs and for whoever reads the collection. */
  summary: string;
  raised_at: Date;
  raised_by: string;
  resolved_at: Date | null;
  resolved_by: string | null;
  /** Identifies the latest raise or recovery, so a slow sender cannot touch a newer one's delivery. */
  change_id: string;
  /** The text of the latest raise or recovery, and the admins who still have to get it. */
  message: string;
  undelivered: number[];
  /** While in the future (database server time), one instance is sending `message`; the others keep off. */
  sending_until: Date | null;
}

/** What the instance that won a change (or a redelivery) has to send. */
export interface Delivery {
  key: string;
  changeId: string;
  message: string;
  recipients: number[];
}

export interface ChangeInput {
  summary: string;
  message: string;
  recipients: readonly number[];
  now: Date;
  /** How long the winner has to send before another instance may resend what is left. */
  leaseMs: number;
}

const DUPLICATE_KEY = 11000;

/**
 * Whether each alert is active, shared by every instance through MongoDB. Raising and resolving
 * are conditional updates, so when several instances see the same problem at once exactly one of
 * them wins the change, and only the winner tells the admins. Admins a message could not reach
 * for now stay in `undelivered`, for one instance at a time to retry under a lease.
 */
export class AlertsRepository {
  constructor(
    readonly alerts: Collection<AlertDoc>,
    private readonly instanceId: string,
  ) {}

  /** The delivery to make when this call turned the alert on; null when it was on already. */
  async raise(key: string, input: ChangeInput): Promise<Delivery | null> {
    const changeId = randomUUID();
    try {
      const result = await this.alerts.updateOne(
        { _id: key, active: { $ne: true } },
        [
          {
            $set: {
              ...literally({
                active: true,
                summary: input.summary,
                raised_at: input.now,
                raised_by: this.instanceId,
                resolved_at: null,
                resolved_by: null,
              }),
              ...this.changeFields(changeId, input),
            },
          },
        ],
        { upsert: true },
      );
      if (result.modifiedCount + result.upsertedCount !== 1) return null;
    } catch (error) {
      // The alert is already active: the upsert found no inactive document and its insert hit
      // the existing `_id`. Two first-ever raises at once end here too, for the loser.
      if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return null;
      throw error;
    }
    return { key, changeId, message: input.message, recipients: [...input.recipients] };
  }

  /** The delivery to make when this call turned the alert off; null when it was not on. */
  async resolve(key: string, input: Omit<ChangeInput, 'summary'>): Promise<Delivery | null> {
    const changeId = randomUUID();
    const before = await this.alerts.findOneAndUpdate({ _id: key, active: true }, [
      {
        $set: {
          ...literally({ active: false, resolved_at: input.now, resolved_by: this.instanceId }),
          ...this.changeFields(changeId, input),
        },
      },
    ]);
    return before === null
      ? null
      : { key, changeId, message: input.message, recipients: [...input.recipients] };
  }

  /** Records who got the message (or never will) and lets the next redelivery take the rest. */
  async finishDelivery(delivery: Delivery, done: readonly number[]): Promise<void> {
    await this.alerts.updateOne(
      { _id: delivery.key, change_id: delivery.changeId },
      { $pull: { undelivered: { $in: [...done] } }, $set: { sending_until: null } },
    );
  }

  /**
   * Takes over one alert whose message some admins still lack, unless another instance is on it.
   * `skip` holds the keys already tried in this round, so a round ends while Telegram is down.
   */
  async claimRedelivery(leaseMs: number, skip: readonly string[] = []): Promise<Delivery | null> {
    const doc = await this.alerts.findOneAndUpdate(
      {
        _id: { $nin: [...skip] },
        'undelivered.0': { $exists: true },
        $or: [{ sending_until: null }, notAfterServerNow('sending_until')],
      },
      [{ $set: { sending_until: serverNowPlus(leaseMs) } }],
      { returnDocument: 'after' },
    );
    return doc === null
      ? null
      : { key: doc._id, changeId: doc.change_id, message: doc.message, recipients: doc.undelivered };
  }

  find(key: string): Promise<AlertDoc | null> {
    return this.alerts.findOne({ _id: key });
  }

  private changeFields(changeId: string, input: Omit<ChangeInput, 'summary'>) {
    return {
      ...literally({ change_id: changeId, message: input.message, undelivered: [...input.recipients] }),
      sending_until: serverNowPlus(input.leaseMs),
    };
  }
}
