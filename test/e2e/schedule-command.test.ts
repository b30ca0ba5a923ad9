import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CatalogEntry, deleterOf, JOB_CATALOG, JOB_NAMES } from '../../schedulers/jobs/catalog.js';
import { startTestApp, type TestApp, TestUser } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const ADMIN = { id: 9200, first_name: 'Sched' };
const CONTENT_DELETER = deleterOf('content').name;
const BROADCAST_DELETER = deleterOf('broadcasts').name;
/** A job that deletes nothing: any valid cron expression will do for it. */
const PLAIN = (
  (JOB_CATALOG as readonly CatalogEntry[]).find((job) => job.deletes === undefined) as CatalogEntry
).name;
/** Twelve hours between runs: Telegram's 48 hours less 20 minutes and those 12 hours remain. */
const TWELVE_HOURLY = '0 */12 * * *';
const TWELVE_HOURLY_CAP = 48 * 60 - 20 - 12 * 60;
/** Up to 31 days between runs: nothing could be deleted in time. */
const MONTHLY = '0 0 1 * *';
/** The instances apply a change at their next read of job_controls (every 5 s). */
const EVERY_INSTANCE = { timeoutMs: 12_000 };

describe('end to end: /schedule, on two instances of one bot', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let first: TestApp;
  /** Runs no schedulers, and does not receive updates while the first one does. */
  let second: TestApp;
  let admin: TestUser;
  // The other instance reads stored schedules every second here (5 by default; the process test
  // test/process/schedule-propagation.test.ts checks the default end to end).
  const env = { ADMIN_IDS: String(ADMIN.id), SCHEDULE_REFRESH_SECONDS: '1' };
  /** Each job's schedule from the environment (the harness's quiet ones). */
  let defaults = new Map<string, string>();

  beforeAll(async () => {
    first = await startTestApp(db(), fake, env);
    second = await startTestApp(db(), fake, { ...env, SCHEDULERS_ENABLED: 'false' }, 'started');
    admin = new TestUser(fake, ADMIN);
    await admin.say('/start');
    defaults = new Map((await first.app.runtime.stats()).map((job) => [job.name, job.defaultSchedule]));
  });
  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
  });

  const reply = async (text: string, options: { replyTo?: number } = {}) =>
    (await admin.say(text, options)).map((message) => message.text).join('\n');
  const defaultOf = (job: string) => defaults.get(job) ?? 'unknown';
  const scheduleOn = async (app: TestApp, job: string) =>
    (await app.app.runtime.stats()).find((entry) => entry.name === job)?.schedule;

  it('/schedule alone explains itself and lists every job with its schedule', async () => {
    const text = await reply('/schedule');
    expect(text).toMatch(/^Usage: \/schedule <job> <cron expression>/);
    expect(text).toContain('/schedule <job> default');
    for (const job of JOB_NAMES) {
      expect(text).toContain(`\n${job}: ${defaultOf(job)}, `);
    }
  });

  it('sets a schedule that /tasks shows and every instance applies, and goes back with default', async () => {
    const set = await reply(`/schedule ${PLAIN}   0 5 * * *`);
    expect(set).toMatch(
      new RegExp(
        `^✅ ${PLAIN} now runs at 05:00 \\(UTC\\), 0 5 \\* \\* \\*\\.\\nNext run: \\d+ \\w+ \\d{4}, 05:00 UTC\\.\\nEvery instance applies it within 10 seconds, and it stays after restarts until /schedule ${PLAIN} default\\.$`,
      ),
    );
    expect(await db().collections.jobControls.findOne({ _id: PLAIN })).toMatchObject({
      schedule: '0 5 * * *',
      schedule_changed_by: `admin:${ADMIN.id}`,
    });
    expect(
      await db().collections.audit.findOne({ actor: `telegram:${ADMIN.id}`, target: PLAIN, outcome: 'done' }),
    ).toMatchObject({ action: 'job.update', credential: 'ADMIN_IDS', details: { schedule: '0 5 * * *' } });
    const [tasks] = await admin.say('/tasks');
    expect(tasks?.text).toContain(
      `${PLAIN}: at 05:00 (UTC)\n  schedule: 0 5 * * *, set at run time by admin:${ADMIN.id}; default ${defaultOf(PLAIN)}\n`,
    );
    expect(await reply('/schedule')).toContain(
      `\n${PLAIN}: 0 5 * * *, at 05:00 (UTC) (set at run time; default ${defaultOf(PLAIN)})`,
    );
    await waitFor(async () => (await scheduleOn(second, PLAIN)) === '0 5 * * *', {
      ...EVERY_INSTANCE,
      message: 'the other instance to apply it',
    });

    expect(await reply(`/schedule ${PLAIN} default`)).toMatch(
      new RegExp(
        `^✅ ${PLAIN} is back on its schedule from the environment: .*, ${defaultOf(PLAIN).replaceAll('*', '\\*')}\\.\\n`,
      ),
    );
    expect((await db().collections.jobControls.findOne({ _id: PLAIN }))?.schedule).toBeUndefined();
    expect((await admin.say('/tasks'))[0]?.text).not.toContain('set at run time');
    await waitFor(async () => (await scheduleOn(second, PLAIN)) === defaultOf(PLAIN), {
      ...EVERY_INSTANCE,
      message: 'the other instance to go back',
    });
  });

  it('a deleter schedule moves the deletion limits on every instance, and with them /deletetime and /broadcast', async () => {
    const limitsOf = (app: TestApp) => [
      app.app.deps.deletionLimits.maxMinutes('content'),
      app.app.deps.deletionLimits.maxMinutes('broadcasts'),
    ];
    const before = [first, second].map(limitsOf);
    expect(await reply(`/schedule ${CONTENT_DELETER} ${TWELVE_HOURLY}`)).toMatch(/^✅ /);
    expect(await reply(`/schedule ${BROADCAST_DELETER} ${TWELVE_HOURLY}`)).toMatch(/^✅ /);
    // At once on the instance that was asked.
    expect(limitsOf(first)).toEqual([TWELVE_HOURLY_CAP, TWELVE_HOURLY_CAP]);
    expect(first.app.deps.deleteTime.maxMinutes).toBe(TWELVE_HOURLY_CAP);
    expect(await reply('/deletetime')).toContain('The longest is 35 hours 40 minutes');
    expect(await reply('/setdeletetime 36h')).toMatch(/between 1 minute and 35 hours 40 minutes/);
    await admin.say('📢 Not sent');
    const source = fake.chat(ADMIN.id).messages.at(-1)!;
    expect(await reply('/broadcast 36h', { replyTo: source.message_id })).toMatch(
      /between 1 minute and 35 hours 40 minutes; “36h” is 36 hours\.\nThe longest is 35 hours 40 minutes/,
    );
    expect(await db().collections.broadcasts.countDocuments()).toBe(0);
    // Within a refresh on the other.
    await waitFor(() => limitsOf(second).every((minutes) => minutes === TWELVE_HOURLY_CAP), {
      ...EVERY_INSTANCE,
      message: 'the limits on the other instance',
    });
    expect(second.app.deps.deleteTime.maxMinutes).toBe(TWELVE_HOURLY_CAP);

    for (const job of [CONTENT_DELETER, BROADCAST_DELETER]) {
      expect(await reply(`/schedule ${job} default`)).toMatch(/^✅ /);
    }
    await waitFor(() => JSON.stringify([first, second].map(limitsOf)) === JSON.stringify(before), {
      ...EVERY_INSTANCE,
      message: 'the limits back on both instances',
    });
  });

  it('answers bad input with the specific problem and changes nothing', async () => {
    const before = await snapshot();
    const cases: Array<[string, RegExp]> = [
      ['/schedule nope 0 5 * * *', /^“nope” is not a job\. Jobs: .*\nUsage: \/schedule/],
      [`/schedule ${PLAIN}`, /^A cron expression is missing; nothing changed\.\n.*\nUsage: \/schedule/],
      [
        `/schedule ${PLAIN} 61 * * * *`,
        /^❌ "61 \* \* \* \*" is not a valid cron expression: 61 is a invalid expression for minute\nNothing changed\.$/,
      ],
      [
        `/schedule ${PLAIN} every day`,
        /^❌ "every day" is not a valid cron expression: .*\nNothing changed\.$/,
      ],
      [`/schedule ${PLAIN} * * * * * * *`, /expected 5 or 6 fields but got 7\nNothing changed\.$/],
      [`/schedule ${PLAIN} 0 0 1 * 1`, /restricts both the day of the month and the day of the week/],
      [`/schedule ${PLAIN} {"$ne":null}`, /is not a valid cron expression/],
      [`/schedule ${PLAIN} ${'1 '.repeat(100)}`, /longer than 120 characters.*\nNothing changed\.$/],
      [
        `/schedule ${CONTENT_DELETER} ${MONTHLY}`,
        new RegExp(
          `^❌ "${MONTHLY.replaceAll('*', '\\*')}" leaves up to \\d+ hours between runs of ${CONTENT_DELETER}, too long to delete anything within Telegram's 48 hours; run it at least every few hours\\.\\nNothing changed\\.$`,
        ),
      ],
      [`/schedule ${BROADCAST_DELETER} ${MONTHLY}`, /too long to delete anything within Telegram's 48 hours/],
    ];
    for (const [command, expected] of cases) {
      expect(await reply(command), command).toMatch(expected);
    }
    expect(await snapshot()).toEqual(before);
    expect(await scheduleOn(first, CONTENT_DELETER)).toBe(defaultOf(CONTENT_DELETER));
  });

  /** What a refused /schedule could have touched. */
  async function snapshot() {
    const names = ['scheduler_jobs', 'settings', 'broadcasts', 'scheduler_runs'];
    const entries = await Promise.all(
      names.map(
        async (name) => [name, await db().db.collection(name).find({}).sort({ _id: 1 }).toArray()] as const,
      ),
    );
    return Object.fromEntries(entries);
  }
});
