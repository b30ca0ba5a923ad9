import { afterEach, describe, expect, it } from 'vitest';
import { jsonLines, ScriptProcesses } from '../support/process-control.js';
import type { RunningProcess } from '../support/processes.js';
import { quietSchedules } from '../support/quiet-schedules.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'propagation-T0ken-for-two-real-processes-0123';
const JOB = 'token-cleanup';
/** Every two seconds: a slot soon after any change, against a default that fires on 29 February. */
const EVERY_TWO_SECONDS = '*/2 * * * * *';
const TEN_SECONDS = 10_000;

/**
 * The acceptance test: a schedule changed through the API of one instance is in force on a
 * second instance within 10 seconds, and after restarting both. Two real `src/main.ts` processes
 * on one database; instance A serves the API and runs no schedulers, so every scheduled run of
 * the job is instance B's.
 */
describe('a schedule changed through the API, across two real processes', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  const processes = new ScriptProcesses();
  afterEach(async () => {
    await processes.killAll();
  });

  const env = (schedulers: boolean) => ({
    BOT_TOKEN: fake.token,
    TELEGRAM_API_ROOT: fake.apiRoot,
    MONGODB_URI: db().uri,
    MONGODB_DB: db().dbName,
    LOG_FORMAT: 'json',
    HTTP_PORT: '0',
    DASHBOARD_TOKEN: TOKEN,
    SCHEDULERS_ENABLED: String(schedulers),
    ...quietSchedules(),
  });
  const start = async (schedulers: boolean) => {
    const proc = processes.start('src/main.ts', [], { env: env(schedulers) });
    const line = await proc.waitForLine((text) =>
      text.includes('health, readiness and metrics endpoint listening'),
    );
    const { url } = JSON.parse(line) as { url: string };
    await waitFor(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok, {
      timeoutMs: 30_000,
      message: 'the instance to be ready',
    });
    return { proc, url };
  };
  const api = async (url: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const scheduledRunsSince = (since: Date) =>
    db()
      .collections.runs.find({ job: JOB, trigger: 'scheduled', started_at: { $gte: since } })
      .sort({ started_at: 1 })
      .toArray();
  const stop = async (proc: RunningProcess) => {
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
  };

  it('is in force on the second instance within 10 seconds, and again after both restart', async () => {
    let a = await start(false);
    let b = await start(true);
    expect((await api(b.url, 'GET', `/jobs/${JOB}`)).body.job).toMatchObject({
      scheduleSource: 'environment',
    });

    const changedAt = new Date();
    const patch = await api(a.url, 'PATCH', `/jobs/${JOB}`, { schedule: EVERY_TWO_SECONDS });
    expect(patch.status).toBe(200);
    expect(patch.body.job).toMatchObject({ schedule: EVERY_TWO_SECONDS, scheduleSource: 'runtime' });

    // B applies it (its log says so) and its timer fires on it: a scheduled run by B.
    const applied = await b.proc.waitForLine(
      (line) => line.includes(`${JOB}: schedule changed on another instance`),
      TEN_SECONDS + 5_000,
    );
    const appliedAt = new Date(JSON.parse(applied).time as string | number);
    expect(appliedAt.getTime() - changedAt.getTime()).toBeLessThan(TEN_SECONDS);
    const [first] = await waitFor(
      async () => {
        const runs = await scheduledRunsSince(changedAt);
        return runs.length > 0 ? runs : undefined;
      },
      { timeoutMs: TEN_SECONDS + 5_000, message: 'a scheduled run on the new schedule' },
    );
    expect(first?.started_at.getTime() ?? Number.POSITIVE_INFINITY).toBeLessThan(
      changedAt.getTime() + TEN_SECONDS + 2_000,
    );
    const instanceOfB = jsonLines(b.proc.stdout()).find(
      (line) => typeof line.instance === 'string',
    )?.instance;
    expect(instanceOfB).toEqual(expect.any(String));
    expect(first?.instance).toBe(instanceOfB);
    expect((await api(b.url, 'GET', `/jobs/${JOB}`)).body.job).toMatchObject({
      schedule: EVERY_TWO_SECONDS,
      scheduleSource: 'runtime',
      scheduleChangedBy: 'api:admin',
    });

    // Both restart: the stored schedule is read before the timers start.
    await Promise.all([stop(a.proc), stop(b.proc)]);
    const restartedAt = new Date();
    a = await start(false);
    b = await start(true);
    await waitFor(async () => ((await scheduledRunsSince(restartedAt)).length > 0 ? true : undefined), {
      timeoutMs: TEN_SECONDS,
      message: 'scheduled runs after the restart',
    });
    for (const url of [a.url, b.url]) {
      expect((await api(url, 'GET', `/jobs/${JOB}`)).body.job).toMatchObject({
        schedule: EVERY_TWO_SECONDS,
        scheduleSource: 'runtime',
      });
    }
    const startLine = jsonLines(b.proc.stdout()).find(
      (line) => line.msg?.startsWith(`${JOB}: `) && line.schedule !== undefined,
    );
    expect(startLine?.schedule).toBe(EVERY_TWO_SECONDS);

    // Back to the environment's schedule through the other instance's API: B follows.
    expect((await api(a.url, 'PATCH', `/jobs/${JOB}`, { schedule: 'default' })).status).toBe(200);
    await b.proc.waitForLine(
      (line) => line.includes(`${JOB}: schedule changed on another instance`),
      TEN_SECONDS + 5_000,
    );
    expect((await api(b.url, 'GET', `/jobs/${JOB}`)).body.job).toMatchObject({
      scheduleSource: 'environment',
    });
    await Promise.all([stop(a.proc), stop(b.proc)]);
  }, 90_000);
});
