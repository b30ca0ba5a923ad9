import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobControl } from '../../bot/job-control.js';
import type { RunStatus, RunTrigger } from '../../db/collections.js';
import type { Repositories } from '../../db/repositories/index.js';
import { describeSchedule, nextSlot } from '../../schedulers/cron-schedule.js';
import type { Logger } from '../logger.js';
import type { Caller } from './auth.js';
import { apiError } from './errors.js';
import { broadcastView, jobView, localTime, runView } from './views.js';

export type CancelOutcome = 'requested' | 'not-sending' | 'not-found' | 'invalid-id';

export interface ApiOptions {
  jobs: JobControl;
  repos: Repositories;
  cancelBroadcast(id: string, by: string): Promise<CancelOutcome>;
  timezone: string;
  clock: () => Date;
  logger: Logger;
  /** Writes the audit entry and the log line of an action. */
  audit: (request: FastifyRequest, action: Action) => Promise<void>;
}

export interface Action {
  action: string;
  target?: string;
  details?: Record<string, unknown>;
  outcome: 'done' | 'refused' | 'failed';
  message?: string;
}

const RUN_STATUSES = ['running', 'succeeded', 'failed', 'skipped', 'abandoned'] as const;
const TRIGGERS = ['scheduled', 'manual', 'catch-up'] as const;
const DELETER = 'message-deleter';
const HOUR = 3_600_000;

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;
const anyObject = { type: 'object', additionalProperties: true } as const;
const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [status, { ...errorSchema, description: describeStatus(status) }]),
  );
/** A list's only parameter: how many, at most `max`. */
const limitQuery = (max: number, fallback: number) =>
  ({
    type: 'object',
    properties: { limit: { type: 'integer', minimum: 1, maximum: max, default: fallback } },
    additionalProperties: false,
  }) as const;
const jobParams = {
  type: 'object',
  properties: { name: { type: 'string', description: 'A job name, e.g. token-cleanup' } },
  required: ['name'],
} as const;

/** The JSON API under /api/v1: what the pages show and do, for scripts and other tools too. */
export function registerApi(app: FastifyInstance, options: ApiOptions): void {
  const { jobs, repos, clock } = options;
  const by = (request: FastifyRequest) => (request as FastifyRequest & { caller: Caller }).caller.actor;
  const overview = async (name: string) => (await jobs.stats()).find((job) => job.name === name);
  const unknownJob = (reply: FastifyReply, name: string) =>
    apiError(reply, 'not_found', `no job named "${name}"; jobs: ${jobs.jobNames.join(', ')}`);

  app.get(
    '/session',
    {
      schema: {
        tags: ['session'],
        summary: 'Who is asking, and the CSRF token a browser sends with each change',
        response: { 200: anyObject, ...errors(401) },
      },
    },
    async (request, reply) => {
      const caller = (request as FastifyRequest & { caller: Caller }).caller;
      return {
        role: caller.role,
        canAct: caller.role === 'admin',
        via: caller.via,
        timezone: options.timezone,
        serverTime: clock().toISOString(),
        csrfToken: caller.via === 'session' ? reply.generateCsrf() : null,
      };
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Every job: state, schedule, last and next run, runs of the last 24 hours',
        response: { 200: anyObject, ...errors(401) },
      },
    },
    async () => ({
      schedulersRunning: jobs.isStarted,
      timezone: options.timezone,
      serverTime: clock().toISOString(),
      jobs: (await jobs.stats()).map(jobView),
    }),
  );

  app.get<{ Params: { name: string } }>(
    '/jobs/:name',
    {
      schema: {
        tags: ['jobs'],
        summary: 'One job and its latest runs',
        params: jobParams,
        response: { 200: anyObject, ...errors(401, 404) },
      },
    },
    async (request, reply) => {
      const job = await overview(request.params.name);
      if (!job) return unknownJob(reply, request.params.name);
      const runs = await repos.runBrowser.page({ job: job.name, limit: 10 });
      return { job: jobView(job), recentRuns: runs.map(runView) };
    },
  );

  app.get<{ Params: { name: string }; Querystring: { schedule: string } }>(
    '/jobs/:name/schedule-preview',
    {
      schema: {
        tags: ['jobs'],
        summary: `Checks a schedule for a job and lists its next five times in ${options.timezone}; changes nothing`,
        params: jobParams,
        querystring: {
          type: 'object',
          properties: { schedule: { type: 'string', minLength: 1, maxLength: 200 } },
          required: ['schedule'],
          additionalProperties: false,
        },
        response: { 200: anyObject, ...errors(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      if (!jobs.jobNames.includes(name)) return unknownJob(reply, name);
      const schedule = request.query.schedule.trim();
      const problem = await jobs.checkSchedule(name, schedule);
      if (problem) return apiError(reply, 'bad_request', `schedule "${schedule}" is not valid: ${problem}`);
      return preview(schedule, options.timezone, clock());
    },
  );

  app.patch<{ Params: { name: string }; Body: { schedule?: string | null; paused?: boolean } }>(
    '/jobs/:name',
    {
      schema: {
        tags: ['jobs'],
        summary:
          'Changes a job: its schedule ("default" or null goes back to the environment\'s) and/or pauses it',
        params: jobParams,
        body: {
          type: 'object',
          properties: {
            schedule: {
              type: ['string', 'null'],
              maxLength: 200,
              description: 'A cron expression (5 or 6 fields), "default" or null',
            },
            paused: { type: 'boolean' },
          },
          additionalProperties: false,
          minProperties: 1,
        },
        response: { 200: anyObject, ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      if (!jobs.jobNames.includes(name)) return unknownJob(reply, name);
      const { body } = request;
      const wanted =
        body.schedule === undefined
          ? undefined
          : body.schedule === null || body.schedule.trim() === 'default'
            ? null
            : body.schedule.trim();
      const details = { ...body };
      // Everything is checked before anything changes: a bad schedule leaves `paused` alone too.
      if (typeof wanted === 'string') {
        const problem = await jobs.checkSchedule(name, wanted);
        if (problem) {
          const message = `schedule "${wanted}" is not valid: ${problem}; nothing was changed`;
          await options.audit(request, {
            action: 'job.update',
            target: name,
            details,
            outcome: 'refused',
            message,
          });
          return apiError(reply, 'bad_request', message);
        }
      }
      if (wanted !== undefined) {
        const change = await jobs.setSchedule(name, wanted, by(request));
        if (!change.ok) {
          const message = `schedule not changed: ${change.problem}`;
          await options.audit(request, {
            action: 'job.update',
            target: name,
            details,
            outcome: 'refused',
            message,
          });
          return apiError(reply, 'bad_request', message);
        }
      }
      if (body.paused === true) await jobs.pause(name, by(request));
      if (body.paused === false) await jobs.resume(name, by(request));
      await options.audit(request, { action: 'job.update', target: name, details, outcome: 'done' });
      const job = await overview(name);
      return { job: job ? jobView(job) : null };
    },
  );

  app.post<{ Params: { name: string } }>(
    '/jobs/:name/run',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Runs a job now (claimed like a scheduled run; 409 while it runs anywhere)',
        params: jobParams,
        response: { 202: anyObject, ...errors(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      if (!jobs.jobNames.includes(name)) return unknownJob(reply, name);
      const started = await jobs.startRun(name, { requestedBy: by(request) });
      if (started.status === 'busy') {
        const message = `${name} is already running (${started.reason})`;
        await options.audit(request, { action: 'job.run', target: name, outcome: 'refused', message });
        return apiError(reply, 'conflict', message);
      }
      void started.finished.catch((error: unknown) =>
        options.logger.error({ err: error, job: name }, 'a run started from the dashboard failed to finish'),
      );
      await options.audit(request, {
        action: 'job.run',
        target: name,
        details: { runId: started.runId },
        outcome: 'done',
      });
      return reply.code(202).send({ status: 'started', runId: started.runId });
    },
  );

  for (const [path, paused] of [
    ['/jobs/pause-all', true],
    ['/jobs/resume-all', false],
  ] as const) {
    app.post(
      path,
      {
        schema: {
          tags: ['jobs'],
          summary: paused ? 'Pauses every job' : 'Resumes every job',
          response: { 200: anyObject, ...errors(401, 403) },
        },
      },
      async (request) => {
        if (paused) await jobs.pauseAll(by(request));
        else await jobs.resumeAll(by(request));
        await options.audit(request, {
          action: paused ? 'jobs.pause-all' : 'jobs.resume-all',
          outcome: 'done',
        });
        return { jobs: (await jobs.stats()).map(jobView) };
      },
    );
  }

  app.get<{
    Querystring: {
      job?: string;
      status?: RunStatus;
      trigger?: RunTrigger;
      before?: string;
      since?: string;
      limit: number;
    };
  }>(
    '/runs',
    {
      schema: {
        tags: ['runs'],
        summary: 'Run history of every job, newest first, one page at a time',
        querystring: {
          type: 'object',
          properties: {
            job: { type: 'string', maxLength: 100 },
            status: { type: 'string', enum: [...RUN_STATUSES] },
            trigger: { type: 'string', enum: [...TRIGGERS] },
            before: {
              type: 'string',
              maxLength: 300,
              description: 'An ISO date-time, or the `nextBefore` of the previous page',
            },
            since: {
              type: 'string',
              maxLength: 40,
              description: 'An ISO date-time: runs that started at or after it',
            },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 25 },
          },
          additionalProperties: false,
        },
        response: { 200: anyObject, ...errors(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { job, status, trigger, limit } = request.query;
      if (job !== undefined && !jobs.jobNames.includes(job)) return unknownJob(reply, job);
      const before = request.query.before === undefined ? undefined : parseCursor(request.query.before);
      if (before === null) {
        return apiError(
          reply,
          'bad_request',
          'before must be an ISO date-time (e.g. 2026-11-30T12:00:00Z) or a nextBefore value',
        );
      }
      const since = request.query.since === undefined ? undefined : parseDate(request.query.since);
      if (since === null)
        return apiError(reply, 'bad_request', 'since must be an ISO date-time, e.g. 2026-11-30T00:00:00Z');
      const runs = await repos.runBrowser.page({
        ...(job === undefined ? {} : { job }),
        ...(status === undefined ? {} : { status }),
        ...(trigger === undefined ? {} : { trigger }),
        ...(before === undefined
          ? {}
          : { before: before.at, ...(before.id === undefined ? {} : { beforeId: before.id }) }),
        ...(since === undefined ? {} : { since }),
        limit: limit + 1,
      });
      const page = runs.slice(0, limit);
      const last = page.at(-1);
      return {
        runs: page.map(runView),
        nextBefore: runs.length > limit && last ? `${last.started_at.toISOString()}~${last._id}` : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/runs/:id',
    {
      schema: {
        tags: ['runs'],
        summary: "One run's detail",
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 300 } }, required: ['id'] },
        response: { 200: anyObject, ...errors(401, 404) },
      },
    },
    async (request, reply) => {
      const run = await repos.runBrowser.findById(request.params.id);
      if (!run)
        return apiError(
          reply,
          'not_found',
          `no run with id "${request.params.id}" (history is kept RUN_HISTORY_DAYS)`,
        );
      return { run: runView(run) };
    },
  );

  app.get(
    '/deletions',
    {
      schema: {
        tags: ['deletions'],
        summary: 'Content waiting for deletion, the oldest overdue record, deletions per hour over 24 hours',
        response: { 200: anyObject, ...errors(401) },
      },
    },
    async () => {
      const now = clock();
      const [due, pending, oldest, hours] = await Promise.all([
        repos.pendingDeletions.countDue(now),
        repos.pendingDeletions.countAll(),
        repos.pendingDeletions.oldestDue(now),
        repos.runBrowser.totalsPerHour(
          DELETER,
          new Date(Math.floor(now.getTime() / HOUR) * HOUR - 23 * HOUR),
          ['messagesDeleted', 'failed'],
        ),
      ]);
      return {
        pending,
        due,
        oldestDue: oldest
          ? {
              deleteAt: oldest.delete_at.toISOString(),
              overdueMs: Math.max(0, now.getTime() - oldest.delete_at.getTime()),
              chatId: oldest.chat_id,
              attempts: oldest.attempts ?? 0,
              lastError: oldest.last_error ?? null,
            }
          : null,
        perHour: hours.map((hour) => ({
          hour: hour.hour.toISOString(),
          runs: hour.runs,
          deleted: hour.values.messagesDeleted ?? 0,
          failed: hour.values.failed ?? 0,
        })),
      };
    },
  );

  app.get<{ Querystring: { limit: number } }>(
    '/broadcasts',
    {
      schema: {
        tags: ['broadcasts'],
        summary: 'Broadcasts, newest first: progress, status, when their copies are deleted',
        querystring: limitQuery(100, 20),
        response: { 200: anyObject, ...errors(400, 401) },
      },
    },
    async (request) => {
      const now = clock();
      const broadcasts = await repos.broadcasts.recent(request.query.limit);
      return { broadcasts: broadcasts.map((broadcast) => broadcastView(broadcast, now)) };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/broadcasts/:id/cancel',
    {
      schema: {
        tags: ['broadcasts'],
        summary: 'Stops a broadcast that is sending (copies already sent are still deleted at their time)',
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 100 } }, required: ['id'] },
        response: { 202: anyObject, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const outcome = await options.cancelBroadcast(id, by(request));
      const refused = {
        'invalid-id': ['bad_request', `"${id}" is not a broadcast id (24 hexadecimal digits)`],
        'not-found': ['not_found', `no broadcast with id ${id}`],
        'not-sending': [
          'conflict',
          `broadcast ${id} is not sending; only a sending broadcast can be cancelled`,
        ],
      } as const;
      if (outcome !== 'requested') {
        const [code, message] = refused[outcome];
        await options.audit(request, { action: 'broadcast.cancel', target: id, outcome: 'refused', message });
        return apiError(reply, code, message);
      }
      await options.audit(request, { action: 'broadcast.cancel', target: id, outcome: 'done' });
      return reply.code(202).send({ status: 'cancelling', id });
    },
  );

  app.get<{ Querystring: { limit: number } }>(
    '/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The latest actions taken through the dashboard, the API and /schedule',
        querystring: limitQuery(200, 50),
        response: { 200: anyObject, ...errors(400, 401) },
      },
    },
    async (request) => {
      const entries = await repos.audit.recent(request.query.limit);
      return {
        entries: entries.map((entry) => ({
          at: entry.at.toISOString(),
          actor: entry.actor,
          credential: entry.credential,
          action: entry.action,
          target: entry.target ?? null,
          details: entry.details ?? null,
          outcome: entry.outcome,
          message: entry.message ?? null,
        })),
      };
    },
  );
}

/** The next five times of a schedule, as instants and in the scheduler's time zone. */
export function preview(schedule: string, timezone: string, now: Date) {
  const next: { at: string; local: string }[] = [];
  let at = now;
  for (let i = 0; i < 5; i += 1) {
    at = nextSlot(schedule, timezone, at);
    next.push({ at: at.toISOString(), local: localTime(at, timezone) });
  }
  return { schedule, scheduleText: describeSchedule(schedule, timezone), timezone, next };
}

function parseDate(value: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

function parseCursor(value: string): { at: Date; id?: string } | null {
  const [time, ...rest] = value.split('~');
  const at = time === undefined ? null : parseDate(time);
  if (!at) return null;
  const id = rest.join('~');
  return id === '' ? { at } : { at, id };
}

function describeStatus(status: number): string {
  return (
    {
      400: 'Bad input; the message says what is wrong, nothing was changed',
      401: 'No credentials, or a wrong token',
      403: 'A read-only caller, or a missing CSRF token',
      404: 'No such job, run or broadcast',
      409: 'The job is already running, or the broadcast is not sending',
    }[status] ?? 'Error'
  );
}
