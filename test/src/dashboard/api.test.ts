import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunDoc } from '../../../db/collections.js';
import { JOB_NAMES } from '../../../schedulers/jobs/catalog.js';
import { startTestApp, type TestApp } from '../../support/app-harness.js';
import { DashboardClient } from '../../support/dashboard-client.js';
import { useTestDatabase } from '../../support/test-db.js';
import { useFakeBotApi } from '../../support/use-fake-bot-api.js';

const TOKEN = 'api-T0ken-for-the-dashboard-api-tests-0123456789';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const [FIRST, SECOND] = JOB_NAMES as readonly [string, string];

type Body = Record<string, unknown> & { message?: string };

describe('JSON API /api/v1: every endpoint and its errors', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let t: TestApp;
  let api: DashboardClient;

  const call = (method: string, path: string, json?: unknown) => api.json<Body>(method, path, json);
  const runDoc = (job: string, startedAt: Date, extra: Partial<RunDoc> = {}): RunDoc => ({
    _id: `${job}:${startedAt.toISOString()}:${extra.status ?? 'succeeded'}`,
    job,
    slot: startedAt,
    trigger: 'scheduled',
    instance: 'other-instance',
    status: 'succeeded',
    started_at: startedAt,
    finished_at: new Date(startedAt.getTime() + 1_500),
    heartbeat_at: null,
    attempts: 1,
    result: { deleted: 3 },
    error: null,
    expire_at: new Date(startedAt.getTime() + 30 * 24 * HOUR),
    ...extra,
  });

  beforeAll(async () => {
    t = await startTestApp(db(), fake, {
      HTTP_PORT: '0',
      DASHBOARD_TOKEN: TOKEN,
      SCHEDULER_TIMEZONE: 'Europe/Berlin',
    });
    api = new DashboardClient(t.app.opsUrl ?? '', { authorization: `Bearer ${TOKEN}` });
  });
  afterAll(async () => {
    await t.stop();
  });
  beforeEach(async () => {
    await t.app.runtime.waitForIdle();
    await db().collections.runs.deleteMany({});
    await db().collections.jobControls.deleteMany({});
  });

  it('GET /jobs lists every job with its state, schedules, last and next run and 24-hour counts', async () => {
    await db().collections.runs.insertMany([
      runDoc(FIRST, new Date(t.now().getTime() - 2 * HOUR)),
      runDoc(FIRST, new Date(t.now().getTime() - HOUR), { status: 'failed', error: 'boom', result: null }),
      runDoc(FIRST, new Date(t.now().getTime() - 30 * HOUR)),
    ]);
    const { status, body } = await call('GET', '/api/v1/jobs');
    expect(status).toBe(200);
    const jobs = body.jobs as Body[];
    expect(jobs.map((job) => job.name)).toEqual(JOB_NAMES);
    expect(body).toMatchObject({ schedulersRunning: true, timezone: 'Europe/Berlin' });
    expect(jobs[0]).toMatchObject({
      name: FIRST,
      state: 'idle',
      paused: false,
      scheduleSource: 'environment',
      last24h: { succeeded: 1, failed: 1 },
      lastRun: { status: 'failed', error: 'boom', durationMs: 1_500, trigger: 'scheduled' },
    });
    expect(typeof jobs[0]?.nextRun).toBe('string');
    expect(jobs[0]?.scheduleText).toMatch(/\(Europe\/Berlin\)$/);
  });

  it('GET /jobs/{name} gives one job and its latest runs; an unknown job is 404', async () => {
    await db().collections.runs.insertOne(runDoc(SECOND, new Date(t.now().getTime() - MINUTE)));
    const { status, body } = await call('GET', `/api/v1/jobs/${SECOND}`);
    expect(status).toBe(200);
    expect(body.job).toMatchObject({ name: SECOND });
    expect((body.recentRuns as Body[]).map((run) => run.job)).toEqual([SECOND]);
    const missing = await call('GET', '/api/v1/jobs/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      error: 'not_found',
      message: `no job named "nope"; jobs: ${JOB_NAMES.join(', ')}`,
    });
  });

  it('PATCH /jobs/{name} pauses and resumes; bad bodies are 400 and change nothing', async () => {
    expect((await call('PATCH', `/api/v1/jobs/${FIRST}`, { paused: true })).body.job).toMatchObject({
      state: 'paused',
      paused: true,
    });
    expect(await db().collections.jobControls.findOne({ _id: FIRST })).toMatchObject({
      paused: true,
      changed_by: 'api:admin',
    });
    expect((await call('PATCH', `/api/v1/jobs/${FIRST}`, { paused: false })).body.job).toMatchObject({
      paused: false,
    });
    const before = await db().collections.jobControls.findOne({ _id: FIRST });
    for (const [body, message] of [
      [{}, /must NOT have fewer than 1 properties/],
      [{ paused: 'yes' }, /paused must be boolean/],
      [{ paused: true, color: 'red' }, /must NOT have additional properties/],
      [{ schedule: ['* * * * *', '0 * * * *'] }, /schedule must be string,null/],
    ] as const) {
      const answer = await call('PATCH', `/api/v1/jobs/${FIRST}`, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error).toBe('bad_request');
      expect(answer.body.message).toMatch(message);
    }
    const malformed = await api.request('PATCH', `/api/v1/jobs/${FIRST}`, {
      headers: { 'content-type': 'application/json' },
      form: undefined,
      json: undefined,
    });
    expect(malformed.status).toBe(400);
    expect(await db().collections.jobControls.findOne({ _id: FIRST })).toEqual(before);
    expect((await call('PATCH', '/api/v1/jobs/nope', { paused: true })).status).toBe(404);
  });

  it('PATCH an invalid cron is 400 naming the problem, and changes nothing, not even `paused` sent with it', async () => {
    for (const schedule of ['61 * * * *', 'every day', '* * * *', '0 0 1 * 1']) {
      const answer = await call('PATCH', `/api/v1/jobs/${FIRST}`, { schedule, paused: true });
      expect(answer.status, schedule).toBe(400);
      expect(answer.body.message).toMatch(
        new RegExp(`^schedule "${escapeRegExp(schedule)}" is not valid: .+; nothing was changed$`),
      );
    }
    expect(await db().collections.jobControls.findOne({ _id: FIRST })).toBeNull();
    const preview = await call(
      'GET',
      `/api/v1/jobs/${FIRST}/schedule-preview?schedule=${encodeURIComponent('61 * * * *')}`,
    );
    expect(preview.status).toBe(400);
    expect(preview.body.message).toMatch(/^schedule "61 \* \* \* \*" is not valid: /);
  });

  it('PATCH a valid schedule stores and applies it; "default" goes back to the environment\'s', async () => {
    const preview = await call(
      'GET',
      `/api/v1/jobs/${FIRST}/schedule-preview?schedule=${encodeURIComponent('15 3 * * *')}`,
    );
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ schedule: '15 3 * * *', timezone: 'Europe/Berlin' });
    const next = preview.body.next as { at: string; local: string }[];
    expect(next).toHaveLength(5);
    for (const time of next) expect(time.local).toMatch(/03:15:00$/);
    const set = await call('PATCH', `/api/v1/jobs/${FIRST}`, { schedule: '15 3 * * *' });
    expect(set.status).toBe(200);
    expect(set.body.job).toMatchObject({
      schedule: '15 3 * * *',
      scheduleSource: 'runtime',
      scheduleChangedBy: 'api:admin',
    });
    expect(await db().collections.jobControls.findOne({ _id: FIRST })).toMatchObject({
      schedule: '15 3 * * *',
    });
    const back = await call('PATCH', `/api/v1/jobs/${FIRST}`, { schedule: 'default' });
    expect(back.body.job).toMatchObject({ scheduleSource: 'environment' });
    expect((back.body.job as Body).schedule).toBe((back.body.job as Body).defaultSchedule);
    expect((await db().collections.jobControls.findOne({ _id: FIRST }))?.schedule).toBeUndefined();
  });

  it('POST /jobs/{name}/run starts a run (202) and answers 409 while the job runs anywhere', async () => {
    const started = await call('POST', `/api/v1/jobs/${FIRST}/run`);
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: 'started', runId: expect.any(String) });
    await t.app.runtime.waitForIdle();
    expect(await db().collections.runs.findOne({ _id: started.body.runId as string })).toMatchObject({
      trigger: 'manual',
      status: 'succeeded',
      requested_by: 'api:admin',
    });
    // Another instance holds the job, with a fresh heartbeat.
    await db().collections.runs.insertOne(
      runDoc(SECOND, t.now(), {
        status: 'running',
        finished_at: null,
        heartbeat_at: new Date(),
        _id: `${SECOND}:held`,
      }),
    );
    const busy = await call('POST', `/api/v1/jobs/${SECOND}/run`);
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({
      error: 'conflict',
      message: expect.stringMatching(new RegExp(`^${SECOND} is already running`)),
    });
    expect(
      await db().collections.runs.countDocuments({
        job: SECOND,
        trigger: 'manual',
        status: { $ne: 'skipped' },
      }),
    ).toBe(0);
    expect((await call('POST', '/api/v1/jobs/nope/run')).status).toBe(404);
  });

  it('POST /jobs/pause-all and /jobs/resume-all switch every job', async () => {
    const paused = await call('POST', '/api/v1/jobs/pause-all');
    expect((paused.body.jobs as Body[]).every((job) => job.paused === true)).toBe(true);
    expect(await db().collections.jobControls.countDocuments({ paused: true })).toBe(JOB_NAMES.length);
    await call('POST', '/api/v1/jobs/resume-all');
    expect(await db().collections.jobControls.countDocuments({ paused: true })).toBe(0);
  });

  it('GET /runs filters by job, status, trigger and time, newest first, and pages without losing ties', async () => {
    const base = t.now().getTime() - 10 * HOUR;
    const docs: RunDoc[] = [];
    for (let i = 0; i < 12; i += 1) {
      // Pairs of runs with the same start time, across two jobs.
      const at = new Date(base + Math.floor(i / 2) * HOUR);
      docs.push(
        runDoc(i % 2 === 0 ? FIRST : SECOND, at, {
          _id: `run-${String(i).padStart(2, '0')}`,
          status: i % 3 === 0 ? 'failed' : 'succeeded',
          trigger: i % 4 === 0 ? 'manual' : 'scheduled',
        }),
      );
    }
    await db().collections.runs.insertMany(docs);
    const all: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const answer = await call(
        'GET',
        `/api/v1/runs?limit=5${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(answer.status).toBe(200);
      all.push(...(answer.body.runs as Body[]).map((run) => run.id as string));
      cursor = answer.body.nextBefore as string | null;
      if (!cursor) break;
    }
    const expected = [...docs]
      .sort((a, b) => b.started_at.getTime() - a.started_at.getTime() || (a._id < b._id ? 1 : -1))
      .map((run) => run._id);
    expect(all).toEqual(expected);
    const firstFailed = await call('GET', `/api/v1/runs?job=${FIRST}&status=failed`);
    expect((firstFailed.body.runs as Body[]).map((run) => run.id)).toEqual(
      expected.filter(
        (id) =>
          docs.find((doc) => doc._id === id)?.job === FIRST &&
          docs.find((doc) => doc._id === id)?.status === 'failed',
      ),
    );
    const manual = await call('GET', '/api/v1/runs?trigger=manual');
    expect((manual.body.runs as Body[]).every((run) => run.trigger === 'manual')).toBe(true);
    expect(manual.body.runs as Body[]).toHaveLength(3);
    const window = await call(
      'GET',
      `/api/v1/runs?since=${new Date(base + 2 * HOUR).toISOString()}&before=${new Date(base + 4 * HOUR).toISOString()}`,
    );
    expect((window.body.runs as Body[]).map((run) => run.id)).toEqual([
      'run-07',
      'run-06',
      'run-05',
      'run-04',
    ]);
    for (const [query, message] of [
      ['limit=0', /limit must be >= 1/],
      ['limit=201', /limit must be <= 200/],
      ['status=exploded', /status must be equal to one of the allowed values/],
      ['trigger=cron', /trigger must be equal to one of the allowed values/],
      ['before=yesterday', /^before must be an ISO date-time/],
      ['since=31.12.2026', /^since must be an ISO date-time/],
      ['colour=red', /must NOT have additional properties/],
    ] as const) {
      const answer = await call('GET', `/api/v1/runs?${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.body.message, query).toMatch(message);
    }
    expect((await call('GET', '/api/v1/runs?job=nope')).status).toBe(404);
  });

  it("GET /runs/{id} gives a run's detail; an unknown id is 404", async () => {
    const doc = runDoc(FIRST, t.now(), {
      _id: 'detail-run',
      status: 'failed',
      error: 'Telegram said no',
      attempts: 3,
    });
    await db().collections.runs.insertOne(doc);
    const { body } = await call('GET', '/api/v1/runs/detail-run');
    expect(body.run).toEqual({
      id: 'detail-run',
      job: FIRST,
      status: 'failed',
      trigger: 'scheduled',
      slot: doc.slot?.toISOString(),
      instance: 'other-instance',
      attempts: 3,
      startedAt: doc.started_at.toISOString(),
      finishedAt: doc.finished_at?.toISOString(),
      durationMs: 1_500,
      result: { deleted: 3 },
      error: 'Telegram said no',
      reason: null,
      requestedBy: null,
    });
    expect((await call('GET', '/api/v1/runs/none-such')).status).toBe(404);
  });

  it('GET /deletions counts what is due, the oldest overdue and deletions per hour', async () => {
    const now = t.now().getTime();
    await db().collections.pendingDeletions.insertMany(
      [-90, -30, 10].map((minutes, i) => ({
        user_id: i,
        chat_id: 500 + i,
        message_ids: [1],
        delete_at: new Date(now + minutes * MINUTE),
        content_id: 'c',
        created_at: new Date(now - 2 * HOUR),
      })),
    );
    await db().collections.runs.insertMany([
      runDoc('message-deleter', new Date(now - 3 * HOUR), {
        _id: 'd1',
        result: { messagesDeleted: 4, failed: 1 },
      }),
      runDoc('message-deleter', new Date(now - 3 * HOUR + MINUTE), {
        _id: 'd2',
        result: { messagesDeleted: 6, failed: 0 },
      }),
      runDoc('message-deleter', new Date(now - 30 * HOUR), {
        _id: 'd3',
        result: { messagesDeleted: 100, failed: 0 },
      }),
    ]);
    const { body } = await call('GET', '/api/v1/deletions');
    expect(body).toMatchObject({ pending: 3, due: 2, oldestDue: { chatId: 500, overdueMs: 90 * MINUTE } });
    const hours = body.perHour as Body[];
    expect(hours.reduce((sum, hour) => sum + (hour.deleted as number), 0)).toBe(10);
    expect(hours.reduce((sum, hour) => sum + (hour.failed as number), 0)).toBe(1);
    await db().collections.pendingDeletions.deleteMany({});
  });

  it('GET /broadcasts lists them newest first; cancel answers 202, 409, 404 or 400', async () => {
    const now = t.now();
    const base = {
      created_by: 1,
      source_chat_id: 1,
      source_message_id: 1,
      counts: { total: 10, delivered: 4, blocked: 1, failed: 0 },
      delete_at: new Date(now.getTime() + HOUR),
    };
    const sent = new ObjectId();
    const sending = new ObjectId();
    await db().collections.broadcasts.insertMany([
      { ...base, _id: sent, status: 'sent', created_at: new Date(now.getTime() - 2 * HOUR) },
      // A sender on another instance, alive.
      {
        ...base,
        _id: sending,
        status: 'sending',
        created_at: new Date(now.getTime() - MINUTE),
        owner: 'elsewhere',
        heartbeat_at: new Date(),
      },
    ]);
    const list = await call('GET', '/api/v1/broadcasts');
    expect((list.body.broadcasts as Body[]).map((b) => b.id)).toEqual([
      sending.toHexString(),
      sent.toHexString(),
    ]);
    expect((list.body.broadcasts as Body[])[0]).toMatchObject({
      status: 'sending',
      progress: 0.5,
      counts: base.counts,
    });
    expect((await call('POST', `/api/v1/broadcasts/${sent.toHexString()}/cancel`)).status).toBe(409);
    expect((await call('POST', `/api/v1/broadcasts/${new ObjectId().toHexString()}/cancel`)).status).toBe(
      404,
    );
    expect((await call('POST', '/api/v1/broadcasts/not-an-id/cancel')).status).toBe(400);
    const cancel = await call('POST', `/api/v1/broadcasts/${sending.toHexString()}/cancel`);
    expect(cancel).toEqual({ status: 202, body: { status: 'cancelling', id: sending.toHexString() } });
    expect(await db().collections.broadcasts.findOne({ _id: sending })).toMatchObject({
      cancel_requested_by: 'api:admin',
    });
    await db().collections.broadcasts.deleteMany({});
  });

  it('every action is in the audit trail, with the credential that did it', async () => {
    await call('PATCH', `/api/v1/jobs/${FIRST}`, { paused: true });
    await call('PATCH', `/api/v1/jobs/${FIRST}`, { schedule: 'nonsense' });
    const { body } = await call('GET', '/api/v1/audit?limit=2');
    expect(body.entries).toEqual([
      expect.objectContaining({
        action: 'job.update',
        target: FIRST,
        outcome: 'refused',
        actor: 'api:admin',
      }),
      expect.objectContaining({
        action: 'job.update',
        target: FIRST,
        outcome: 'done',
        details: { paused: true },
      }),
    ]);
    expect((body.entries as Body[])[0]?.credential).toMatch(/^DASHBOARD_TOKEN#[0-9a-f]{8}$/);
  });

  it('serves an OpenAPI description of every endpoint', async () => {
    const { status, body } = await call('GET', '/api/v1/openapi.json');
    expect(status).toBe(200);
    expect(body.openapi).toBe('3.0.3');
    const paths = body.paths as Record<string, Record<string, unknown>>;
    for (const [path, method] of [
      ['/api/v1/jobs', 'get'],
      ['/api/v1/jobs/{name}', 'get'],
      ['/api/v1/jobs/{name}', 'patch'],
      ['/api/v1/jobs/{name}/run', 'post'],
      ['/api/v1/runs', 'get'],
      ['/api/v1/broadcasts', 'get'],
      ['/api/v1/broadcasts/{id}/cancel', 'post'],
    ] as const) {
      expect(paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    expect(JSON.stringify(paths['/api/v1/jobs/{name}/run'])).toContain('"409"');
  });

  it('an unknown API path is a JSON 404', async () => {
    expect(await call('GET', '/api/v1/nothing-here')).toEqual({
      status: 404,
      body: { error: 'not_found', message: 'no such endpoint: GET /api/v1/nothing-here' },
    });
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
