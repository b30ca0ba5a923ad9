import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestCaption } from '../../../bot/digest/digest.js';
import { DAILY_STAT_FIELDS, RUN_STAT_STATUSES } from '../../../db/collections.js';
import { addDays, type DailyStats } from '../../../db/repositories/stats.js';
import { catalogEntry, createJobs, JOB_CATALOG, type JobName } from '../../../schedulers/jobs/catalog.js';
import type { SchedulerRuntime } from '../../../schedulers/runtime.js';
import { type JobHarness, startJobHarness } from '../../support/job-harness.js';
import { testRuntime } from '../../support/runtime.js';
import { useTestDatabase } from '../../support/test-db.js';

const NOW = new Date('2026-03-10T08:00:00Z'); // 09:00 in Europe/Berlin
const ADMINS = [7001, 7002, 7003];
const LEAP_DAY = '0 0 29 2 *';

describe('digest job', () => {
  const db = useTestDatabase();
  let h: JobHarness;
  let runtime: SchedulerRuntime;

  beforeEach(async () => {
    await Promise.all(Object.values(db().collections).map((collection) => collection.deleteMany({})));
    h = await startJobHarness(db(), { now: NOW, timezone: 'Europe/Berlin', adminIds: ADMINS });
    for (const id of ADMINS) h.fake.addChat(id, { user: { id, first_name: `Admin ${id}` } });
    await h.deps.repos.stats.increment('2026-03-09', {
      counts: { users_new: 7, links_issued: 4, links_verified: 3 },
    });
    const schedules = Object.fromEntries(JOB_CATALOG.map((job) => [job.name, LEAP_DAY])) as Record<
      JobName,
      string
    >;
    runtime = testRuntime({
      db: db().db,
      jobs: createJobs(h.deps, schedules),
      timezone: 'Europe/Berlin',
      logger: h.logs.logger,
      retry: { attempts: 1, baseDelayMs: 10 },
      clock: () => h.now(),
    });
  });
  afterEach(async () => {
    await runtime.stop({ timeoutMs: 1_000 });
    await h.close();
  });

  const photosTo = (chatId: number) => h.fake.chat(chatId).messages.filter((message) => message.photo);

  it('is in the catalog with DIGEST_CRON at 09:00 every day', () => {
    expect(catalogEntry('digest')).toMatchObject({
      envVar: 'DIGEST_CRON',
      defaultSchedule: '0 9 * * *',
      processedField: 'sent',
    });
  });

  it('sends every admin one photo with the caption of yesterday', async () => {
    const outcome = await runtime.runNow('digest');
    expect(outcome).toMatchObject({ status: 'succeeded', result: { sent: 3, failed: 0, days: 30 } });
    for (const id of ADMINS) {
      const photos = photosTo(id);
      expect(photos).toHaveLength(1);
      expect(photos[0]?.caption).toContain('New users: 7 (+7; +7 vs 0)');
      expect(photos[0]?.caption).toContain('Conversion issued→verified: 75.0% (7-day n/a)');
      const bytes = h.fake.uploadedFile(photos[0]?.photo?.[0]?.file_id ?? '');
      expect(bytes?.readUInt32BE(16)).toBe(1200);
    }
    // One upload; the other admins get the same photo by its file_id.
    const sends = h.fake.calls.filter((call) => call.method === 'sendPhoto');
    expect(sends.map((call) => String(call.params.photo).startsWith('attach://'))).toEqual([
      true,
      false,
      false,
    ]);
    expect(new Set(ADMINS.map((id) => photosTo(id)[0]?.photo?.[0]?.file_id)).size).toBe(1);
  });

  it('a failing admin is logged and counted; the others still get theirs', async () => {
    h.fake.blockBot(7002);
    const outcome = await runtime.runNow('digest');
    expect(outcome).toMatchObject({ status: 'succeeded', result: { sent: 2, failed: 1 } });
    expect(photosTo(7001)).toHaveLength(1);
    expect(photosTo(7003)).toHaveLength(1);
    expect(photosTo(7002)).toHaveLength(0);
    expect(
      h.logs.records().find((record) => record.msg === 'the digest could not be sent to an admin'),
    ).toMatchObject({
      adminId: 7002,
      answer: expect.stringMatching(/blocked/),
    });
  });

  it('fails the run when no admin got it, so the alerts see it', async () => {
    for (const id of ADMINS) h.fake.blockBot(id);
    const outcome = await runtime.runNow('digest');
    expect(outcome).toMatchObject({ status: 'failed' });
    expect(outcome.error).toMatch(/reached none of the 3 admins/);
  });

  it('a dry run renders but sends nothing', async () => {
    const { sendDigest } = await import('../../../schedulers/jobs/digest.js');
    expect(await sendDigest(h.deps, h.input(NOW, { dryRun: true }))).toEqual({
      sent: 0,
      failed: 0,
      days: 30,
    });
    for (const id of ADMINS) expect(photosTo(id)).toHaveLength(0);
  });
});

describe('digest caption', () => {
  const day = (offset: number, value: number): DailyStats => ({
    day: addDays('2026-03-09', offset),
    counts: Object.fromEntries(DAILY_STAT_FIELDS.map((field) => [field, value])) as DailyStats['counts'],
    runs: Object.fromEntries(RUN_STAT_STATUSES.map((status) => [status, value])) as DailyStats['runs'],
  });

  it('stays within 1024 characters with the largest figures and the longest time zone name', () => {
    const history = [...Array.from({ length: 8 }, (_, i) => day(i - 8, 987_654_321_012 + i * 7)), day(0, 1)];
    const caption = digestCaption(history, {
      timezone: 'America/Argentina/ComodRivadavia',
      lagMs: 999 * 3_600_000,
      days: 90,
    });
    expect(caption.length).toBeLessThanOrEqual(1024);
    // Nothing was cut: the last line is there whole.
    expect(caption.split('\n').at(-1)).toBe('Chart: the last 90 days.');
    expect(caption).toContain('deletion lag 999 h 0 min');
  });

  it('says n/a for a conversion without links, and no lag when nothing is overdue', () => {
    const caption = digestCaption(
      Array.from({ length: 9 }, (_, i) => day(i - 8, 0)),
      { timezone: 'UTC', lagMs: 0, days: 30 },
    );
    expect(caption).toContain('Conversion issued→verified: n/a (7-day n/a)');
    expect(caption).toContain('0 failed runs yesterday (0 ok, 0 abandoned); deletion lag none');
  });
});
