import { beforeEach, describe, expect, it } from 'vitest';
import { createRepositories } from '../../db/repositories/index.js';
import { addDays, calendarDays } from '../../db/repositories/stats.js';
import { useTestDatabase } from '../support/test-db.js';

describe('StatsRepository', () => {
  const db = useTestDatabase();
  const stats = () => createRepositories(db().collections, { statsRetentionDays: 10 }).stats;

  beforeEach(async () => {
    await db().collections.dailyStats.deleteMany({});
  });

  it('adds up increments of a day, runs by status included, with expire_at the day plus the retention', async () => {
    await stats().increment('2026-03-09', { counts: { users_new: 1, links_issued: 2 } });
    await Promise.all(
      Array.from({ length: 5 }, () =>
        stats().increment('2026-03-09', { counts: { users_new: 1 }, runs: { failed: 1 } }),
      ),
    );
    // Zero increments write nothing.
    await stats().increment('2026-03-11', { counts: { users_new: 0 } });
    expect(await db().collections.dailyStats.find().toArray()).toEqual([
      {
        _id: '2026-03-09',
        users_new: 6,
        links_issued: 2,
        runs: { failed: 5 },
        expire_at: new Date('2026-03-19T00:00:00Z'),
      },
    ]);
    await expect(stats().increment('9 March', { counts: { users_new: 1 } })).rejects.toThrow(/calendar day/);
  });

  it('reads a range day by day, with zeros for days without a document', async () => {
    await stats().increment('2026-02-28', { counts: { deliveries: 4 } });
    await stats().increment('2026-03-02', { counts: { deliveries: 1 }, runs: { succeeded: 3 } });
    await stats().increment('2026-03-03', { counts: { deliveries: 9 } });
    const range = await stats().range('2026-02-28', '2026-03-02');
    expect(range.map((day) => [day.day, day.counts.deliveries, day.runs.succeeded])).toEqual([
      ['2026-02-28', 4, 0],
      ['2026-03-01', 0, 0],
      ['2026-03-02', 1, 3],
    ]);
    expect(range[1]?.counts.users_new).toBe(0);
  });

  it('counts calendar days across month ends and DST changes without a time zone', () => {
    expect(calendarDays('2026-03-28', '2026-04-01')).toEqual([
      '2026-03-28',
      '2026-03-29',
      '2026-03-30',
      '2026-03-31',
      '2026-04-01',
    ]);
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
  });
});
