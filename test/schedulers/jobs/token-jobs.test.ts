import { beforeEach, describe, expect, it } from 'vitest';
import { localDate } from '../../../db/calendar.js';
import type { TokenDoc } from '../../../db/collections.js';
import { createRepositories } from '../../../db/repositories/index.js';
import { cleanupExpiredTokens, resetTokenCounts } from '../../../schedulers/jobs/index.js';
import { captureLogs } from '../../support/logs.js';
import { useTestDatabase } from '../../support/test-db.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

describe('token cleanup and token count reset', () => {
  const db = useTestDatabase();
  const logger = captureLogs().logger;
  const input = (now: Date, dryRun = false) => ({
    now,
    clock: () => now,
    signal: new AbortController().signal,
    logger,
    dryRun,
    confirmClaim: async () => {},
  });
  const deps = (timezone = 'UTC') => ({ repos: createRepositories(db().collections), timezone });

  beforeEach(async () => {
    await db().collections.tokens.deleteMany({});
    await db().collections.tokenCounts.deleteMany({});
  });

  it('token cleanup deletes expired verified and bypassed tokens, keeping unused, unexpired and exactly-now ones', async () => {
    const token = (name: string, status: TokenDoc['status'], expires: Date): TokenDoc => ({
      token: name,
      user_id: 1,
      status,
      created_at: at(-86_400_000),
      expires_at: expires,
    });
    await db().collections.tokens.insertMany([
      token('verified-expired', 'verified', at(-1)),
      token('bypassed-expired', 'bypassed', at(-3_600_000)),
      token('unused-expired', 'unused', at(-3_600_000)),
      token('verified-valid', 'verified', at(1)),
      token('verified-now', 'verified', NOW),
    ]);

    expect(await cleanupExpiredTokens(deps(), input(NOW, true))).toEqual({ deleted: 2 });
    expect(await db().collections.tokens.countDocuments()).toBe(5);
    expect(await cleanupExpiredTokens(deps(), input(NOW))).toEqual({ deleted: 2 });
    const left = await db().collections.tokens.find().sort({ token: 1 }).toArray();
    expect(left.map((doc) => doc.token)).toEqual(['unused-expired', 'verified-now', 'verified-valid']);
    expect(await cleanupExpiredTokens(deps(), input(NOW))).toEqual({ deleted: 0 });
  });

  it('token count reset drops counters before today in the scheduler time zone', async () => {
    await db().collections.tokenCounts.insertMany([
      { user_id: 1, date: '2026-03-09', count: 3 },
      { user_id: 2, date: '2026-03-10', count: 2 },
      { user_id: 3, date: '2026-03-11', count: 1 },
    ]);
    // 23:30 UTC on the 10th is already the 11th in Tokyo.
    const lateEvening = new Date('2026-03-10T23:30:00Z');
    expect(localDate(lateEvening, 'UTC')).toBe('2026-03-10');
    expect(localDate(lateEvening, 'Asia/Tokyo')).toBe('2026-03-11');

    expect(await resetTokenCounts(deps('UTC'), input(lateEvening, true))).toEqual({ deleted: 1 });
    expect(await resetTokenCounts(deps('UTC'), input(lateEvening))).toEqual({ deleted: 1 });
    expect(await db().collections.tokenCounts.countDocuments()).toBe(2);

    expect(await resetTokenCounts(deps('Asia/Tokyo'), input(lateEvening))).toEqual({ deleted: 1 });
    expect((await db().collections.tokenCounts.find().toArray()).map((doc) => doc.date)).toEqual([
      '2026-03-11',
    ]);
  });

  it('counts the day from midnight exactly', async () => {
    await db().collections.tokenCounts.insertOne({ user_id: 1, date: '2026-03-09', count: 3 });
    expect(await resetTokenCounts(deps(), input(new Date('2026-03-09T23:59:59.999Z')))).toEqual({
      deleted: 0,
    });
    expect(await resetTokenCounts(deps(), input(new Date('2026-03-10T00:00:00.000Z')))).toEqual({
      deleted: 1,
    });
  });
});
