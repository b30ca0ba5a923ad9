import { beforeEach, describe, expect, it } from 'vitest';
import { DeletionLimits } from '../../bot/deletion/deletion-limits.js';
import { DeleteTimeSetting } from '../../bot/services/delete-time.js';
import { createRepositories } from '../../db/repositories/index.js';
import {
  deletionCap,
  deletionScheduleRule,
  followDeleterSchedules,
} from '../../schedulers/deletion-schedules.js';
import { type CatalogEntry, deleterOf, JOB_CATALOG } from '../../schedulers/jobs/catalog.js';
import { useTestDatabase } from '../support/test-db.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const HOUR = 60;
/** Telegram's 48 hours less the margin and a run's allowance (bot/deletion/deletion-window.ts). */
const ROOM = 48 * HOUR - 20;
const TWELVE_HOURLY = '0 */12 * * *';
const MONTHLY = '0 0 1 * *';

const contentDeleter = deleterOf('content').name;
const broadcastDeleter = deleterOf('broadcasts').name;
const otherJobs = (JOB_CATALOG as readonly CatalogEntry[]).filter((job) => job.deletes === undefined);

describe('deleter schedules and what they may delete', () => {
  const db = useTestDatabase();
  const repos = () => createRepositories(db().collections);
  let limits: DeletionLimits;
  let deleteTime: DeleteTimeSetting;

  /** The rule as the wiring makes it, on the test database. */
  const rule = () =>
    deletionScheduleRule({
      timezone: 'UTC',
      clock: () => NOW,
      deleteTimeMinutes: () => deleteTime.minutes(),
      longestBroadcast: () => repos().broadcasts.longestLifetime(),
    });

  beforeEach(async () => {
    await db().collections.settings.deleteMany({});
    await db().collections.broadcasts.deleteMany({});
    limits = new DeletionLimits({ content: ROOM - 1, broadcasts: ROOM - HOUR });
    deleteTime = new DeleteTimeSetting(repos().settings, 30, limits);
  });

  it('a schedule leaves Telegram 48 hours less its longest gap', () => {
    expect(deletionCap('* * * * *', 'UTC', NOW)).toEqual({ gapMs: 60_000, maxMinutes: ROOM - 1 });
    expect(deletionCap(TWELVE_HOURLY, 'UTC', NOW).maxMinutes).toBe(ROOM - 12 * HOUR);
    expect(deletionCap(MONTHLY, 'UTC', NOW).maxMinutes).toBeLessThan(1);
  });

  it('refuses a deleter schedule too sparse to delete anything in time', async () => {
    for (const job of [contentDeleter, broadcastDeleter]) {
      expect(await rule()(job, MONTHLY)).toBe(
        `"${MONTHLY}" leaves up to 744 hours between runs of ${job}, too long to delete anything within Telegram's 48 hours; run it at least every few hours.`,
      );
    }
  });

  it('refuses a content deleter schedule whose cap is under the /setdeletetime setting', async () => {
    expect(await rule()(contentDeleter, TWELVE_HOURLY)).toBeUndefined();
    await deleteTime.set(ROOM - 12 * HOUR + 60, NOW, 1);
    expect(await rule()(contentDeleter, TWELVE_HOURLY)).toBe(
      `"${TWELVE_HOURLY}" leaves up to 12 hours between runs of ${contentDeleter}, so content could stay at most 35 hours 40 minutes, less than the delete time in force (36 hours 40 minutes). Lower the delete time to 35 hours 40 minutes or less with /setdeletetime first, or run ${contentDeleter} more often.`,
    );
    // Exactly the cap is fine.
    await deleteTime.set(ROOM - 12 * HOUR, NOW, 1);
    expect(await rule()(contentDeleter, TWELVE_HOURLY)).toBeUndefined();
    // The broadcast deleter does not care about the delete time.
    await deleteTime.set(ROOM - 1, NOW, 1);
    expect(await rule()(broadcastDeleter, TWELVE_HOURLY)).toBeUndefined();
  });

  it('without a setting, DELETE_AFTER_MINUTES is the delete time in force', async () => {
    deleteTime = new DeleteTimeSetting(repos().settings, 40 * HOUR, limits);
    expect(await rule()(contentDeleter, TWELVE_HOURLY)).toMatch(
      /less than the delete time in force \(40 hours\)\. Lower the delete time .* with \/setdeletetime/,
    );
    expect(await rule()(contentDeleter, '0 */6 * * *')).toBeUndefined();
  });

  it('refuses a broadcast deleter schedule whose cap is under a stored broadcast lifetime', async () => {
    const store = (hours: number) =>
      repos().broadcasts.create({
        created_at: NOW,
        delete_at: new Date(NOW.getTime() + hours * 3_600_000),
        created_by: 1,
        source_chat_id: 1,
        source_message_id: 1,
        status: 'sent',
        counts: { total: 0, delivered: 0, blocked: 0, failed: 0 },
      });
    await store(30);
    expect(await rule()(broadcastDeleter, TWELVE_HOURLY)).toBeUndefined();
    await store(40);
    expect(await rule()(broadcastDeleter, TWELVE_HOURLY)).toBe(
      `"${TWELVE_HOURLY}" leaves up to 12 hours between runs of ${broadcastDeleter}, so a broadcast could stay at most 35 hours 40 minutes, but a broadcast in the database stays 40 hours (until 12 Mar 2026, 04:00 UTC). Wait until it is deleted, or run ${broadcastDeleter} more often.`,
    );
    expect(await rule()(broadcastDeleter, '0 */6 * * *')).toBeUndefined();
    // Stored broadcasts do not bind the content deleter.
    expect(await rule()(contentDeleter, TWELVE_HOURLY)).toBeUndefined();
  });

  it('lets every other job run on any valid schedule', async () => {
    expect(otherJobs.length).toBeGreaterThan(0);
    for (const job of otherJobs) expect(await rule()(job.name, MONTHLY)).toBeUndefined();
  });

  it('the limits follow the deleters’ schedules, and the delete time setting reads them live', async () => {
    const follow = followDeleterSchedules(limits, 'UTC', () => NOW);
    await deleteTime.set(30 * HOUR, NOW, 1);
    follow(contentDeleter, TWELVE_HOURLY);
    expect(limits.maxMinutes('content')).toBe(ROOM - 12 * HOUR);
    expect(limits.contentSafeLifetimeMs()).toBe((ROOM - 12 * HOUR) * 60_000);
    expect(limits.maxMinutes('broadcasts')).toBe(ROOM - HOUR);
    expect(deleteTime.maxMinutes).toBe(ROOM - 12 * HOUR);

    follow(broadcastDeleter, '0 */6 * * *');
    expect(limits.maxMinutes('broadcasts')).toBe(ROOM - 6 * HOUR);
    for (const job of otherJobs) follow(job.name, MONTHLY);
    expect([limits.maxMinutes('content'), limits.maxMinutes('broadcasts')]).toEqual([
      ROOM - 12 * HOUR,
      ROOM - 6 * HOUR,
    ]);

    // A stored delete time above a lower cap is capped, and setting one above it is refused.
    follow(contentDeleter, '0 */20 * * *');
    expect(await deleteTime.minutes()).toBe(ROOM - 20 * HOUR);
    await expect(deleteTime.set(ROOM - 20 * HOUR + 1, NOW, 1)).rejects.toThrow(RangeError);
  });
});
