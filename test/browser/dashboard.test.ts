import { existsSync } from 'node:fs';
import { ObjectId } from 'mongodb';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunDoc } from '../../db/collections.js';
import { JOB_NAMES } from '../../schedulers/jobs/catalog.js';
import { startTestApp, type TestApp } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

/*
 * The dashboard's pages in a real browser (Debian's Chromium driven by playwright-core) against
 * the real app: the test database, the fake Bot API, the ops server with the dashboard plugin.
 * Each test opens its own browser context (its own cookies), signs in through the login form and
 * checks what the user sees and what MongoDB holds. No page may log a CSP violation or a script
 * error; the only console errors allowed are the browser's notes about refused requests that a
 * test provokes on purpose.
 */

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_TOKEN = 'dashboard-test-admin-token-0123456789abcd';
const VIEWER_TOKEN = 'dashboard-test-viewer-token-0123456789abc';
const TIMEZONE = 'Europe/Berlin';
const ADMIN_ID = 4242;

describe('the dashboard in a browser', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let t: TestApp;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  /** Console errors and page errors of the current test's pages. */
  let problems: string[] = [];
  /** Console errors a test expects (a request it makes the server refuse). */
  let expectedRefusals: RegExp[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `the browser tests need Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium)`,
      );
    }
    [t, browser] = await Promise.all([
      startTestApp(db(), fake, {
        HTTP_PORT: '0',
        DASHBOARD_TOKEN: ADMIN_TOKEN,
        DASHBOARD_READONLY_TOKEN: VIEWER_TOKEN,
        // No DASHBOARD_INSECURE_COOKIE: Chromium treats http://127.0.0.1 as a secure context and
        // keeps and sends Secure cookies there, so the pages run with the production cookies.
        SCHEDULER_TIMEZONE: TIMEZONE,
        ADMIN_IDS: String(ADMIN_ID),
      }),
      chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      }),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
    const unexpected = problems.filter(
      (problem) => !expectedRefusals.some((allowed) => allowed.test(problem)),
    );
    problems = [];
    expectedRefusals = [];
    expect(unexpected, 'console errors or page errors').toEqual([]);
  });

  const url = (path: string) => `${t.app.opsUrl}${path}`;

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    return page;
  }

  /** Signs in through the login form and waits until the page has read its session. */
  async function signIn(token = ADMIN_TOKEN, hash = ''): Promise<Page> {
    const page = await newPage();
    await page.goto(url('/admin/login'));
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(url('/admin')), page.click('button[type="submit"]')]);
    if (hash) await page.goto(url(`/admin${hash}`));
    await page.waitForSelector('body[data-ready="true"]');
    return page;
  }

  const byTestId = (scope: Page | Locator, id: string) => scope.locator(`[data-testid="${id}"]`);
  const jobRow = (page: Page, job: string) => page.locator(`tr[data-testid="job-row"][data-job="${job}"]`);
  const stateOf = (page: Page, job: string) => byTestId(jobRow(page, job), 'job-state');
  const status = (page: Page) => byTestId(page, 'status');

  /** Waits until a locator's text matches. */
  async function expectText(locator: Locator, expected: string | RegExp, timeoutMs = 5_000): Promise<void> {
    await waitFor(
      async () => {
        const text = (await locator.textContent({ timeout: timeoutMs })) ?? '';
        return typeof expected === 'string' ? text.includes(expected) : expected.test(text);
      },
      { timeoutMs, message: `${locator} to show ${expected}` },
    );
  }

  const control = (job: string) => db().collections.jobControls.findOne({ _id: job });

  it('opens with the login form: a wrong token is refused, the right one lands on /admin', async () => {
    const page = await newPage();
    // The login page's own 401 answer is logged by the browser as a failed resource.
    expectedRefusals = [/status of 401/];
    await page.goto(url('/admin'));
    expect(new URL(page.url()).pathname).toBe('/admin/login');

    await page.fill('#token', 'not-the-token-but-long-enough-0123456789');
    await page.click('button[type="submit"]');
    await expectText(page.locator('.error[role="alert"]'), 'That token is not right.');
    expect(new URL(page.url()).pathname).toBe('/admin/login');

    await page.fill('#token', ADMIN_TOKEN);
    await Promise.all([page.waitForURL(url('/admin')), page.click('button[type="submit"]')]);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await byTestId(page, 'who').textContent()).toBe('admin');
    expect(await byTestId(page, 'timezone').textContent()).toContain(TIMEZONE);
  });

  it('lists every job of the catalog with its state, schedule and actions', async () => {
    const page = await signIn();
    await page.waitForSelector('tr[data-testid="job-row"]');
    const names = await page
      .locator('tr[data-testid="job-row"]')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-job')));
    expect(names).toEqual([...JOB_NAMES]);
    for (const job of JOB_NAMES) {
      expect(await stateOf(page, job).textContent()).toBe('idle');
      expect(await byTestId(jobRow(page, job), 'job-schedule-source').textContent()).toBe('default');
      expect(await byTestId(jobRow(page, job), 'run-now').isEnabled()).toBe(true);
    }
    const schedule = await t.app.runtime.stats();
    for (const job of schedule) {
      expect(await byTestId(jobRow(page, job.name), 'job-schedule').textContent()).toBe(job.schedule);
      // In words, without the time zone the header already names.
      expect(
        `${await byTestId(jobRow(page, job.name), 'job-schedule-text').textContent()} (${TIMEZONE})`,
      ).toBe(job.scheduleText);
    }
  });

  it('pauses and resumes a job: the badge changes and job_controls says so', async () => {
    const page = await signIn();
    const row = jobRow(page, 'digest');
    await byTestId(row, 'toggle-pause').click();
    await expectText(stateOf(page, 'digest'), 'paused');
    await expectText(status(page), 'digest is paused');
    expect(await byTestId(row, 'toggle-pause').textContent()).toBe('Resume');
    expect(await control('digest')).toMatchObject({ paused: true, changed_by: 'dashboard:admin' });

    await byTestId(row, 'toggle-pause').click();
    await expectText(stateOf(page, 'digest'), 'idle');
    await expectText(status(page), 'digest is resumed');
    expect(await control('digest')).toMatchObject({ paused: false });
  });

  it('refreshes the jobs table on its own', async () => {
    const page = await signIn();
    await expectText(stateOf(page, 'backup'), 'idle');
    await t.app.runtime.pause('backup', 'test');
    try {
      // Polled every 5 seconds.
      await expectText(stateOf(page, 'backup'), 'paused', 8_000);
    } finally {
      await t.app.runtime.resume('backup', 'test');
    }
  });

  it('runs a job now; a job already running answers with the conflict', async () => {
    const page = await signIn();
    await byTestId(jobRow(page, 'token-cleanup'), 'run-now').click();
    await expectText(status(page), 'token-cleanup started');
    const run = await waitFor(
      () => db().collections.runs.findOne({ job: 'token-cleanup', trigger: 'manual', status: 'succeeded' }),
      { message: 'the manual run of token-cleanup' },
    );
    expect(run.requested_by).toBe('dashboard:admin');
    await expectText(byTestId(jobRow(page, 'token-cleanup'), 'job-last-status'), 'succeeded');

    // A run held by another instance (its heartbeat is fresh): the button answers 409.
    const now = new Date();
    const held: RunDoc = {
      _id: 'backup:held-by-another-instance',
      job: 'backup',
      slot: null,
      trigger: 'scheduled',
      instance: 'other-instance',
      status: 'running',
      started_at: now,
      finished_at: null,
      heartbeat_at: now,
      attempts: 1,
      result: null,
      error: null,
      expire_at: new Date(now.getTime() + 86_400_000),
    };
    await db().collections.runs.insertOne(held);
    expectedRefusals = [/status of 409/];
    try {
      await byTestId(jobRow(page, 'backup'), 'run-now').click();
      await expectText(status(page), /backup is already running/);
      expect(await status(page).getAttribute('class')).toContain('status-error');
      await expectText(stateOf(page, 'backup'), 'running');
    } finally {
      await db().collections.runs.deleteMany({ job: 'backup' });
    }
  });

  it('edits a schedule: a bad cron is explained and changes nothing, a good one is previewed and saved', async () => {
    const page = await signIn();
    const before = await control('token-count-reset');
    await byTestId(jobRow(page, 'token-count-reset'), 'edit-schedule').click();
    const input = byTestId(page, 'schedule-input');
    await input.fill('61 * * * *');
    await expectText(byTestId(page, 'schedule-problem'), 'is not valid');
    expect(await byTestId(page, 'schedule-preview').isVisible()).toBe(false);
    expectedRefusals = [/status of 400/];
    await byTestId(page, 'schedule-save').click();
    await expectText(status(page), 'nothing was changed');
    expect(await control('token-count-reset')).toEqual(before);

    await input.fill('30 4 * * 1-5');
    await expectText(byTestId(page, 'schedule-preview-text'), /04:30.*Monday through Friday/);
    expect(await byTestId(page, 'schedule-preview').isVisible()).toBe(true);
    expect(await byTestId(page, 'schedule-problem').isVisible()).toBe(false);
    expect(await byTestId(page, 'schedule-preview-time').count()).toBe(5);
    const times = await byTestId(page, 'schedule-preview-time').allTextContents();
    for (const time of times) expect(time).toMatch(/^(Mon|Tue|Wed|Thu|Fri)\b.*04:30:00/);

    await byTestId(page, 'schedule-save').click();
    await expectText(status(page), 'token-count-reset now runs on "30 4 * * 1-5"');
    const row = jobRow(page, 'token-count-reset');
    await expectText(byTestId(row, 'job-schedule'), '30 4 * * 1-5');
    expect(await byTestId(row, 'job-schedule-source').textContent()).toBe('run-time');
    expect(await byTestId(page, 'schedule-editor').isVisible()).toBe(false);
    expect(await control('token-count-reset')).toMatchObject({ schedule: '30 4 * * 1-5' });

    await byTestId(row, 'edit-schedule').click();
    await byTestId(page, 'schedule-default').click();
    await expectText(byTestId(row, 'job-schedule-source'), 'default');
    const restored = (await t.app.runtime.stats()).find((job) => job.name === 'token-count-reset');
    expect(await byTestId(row, 'job-schedule').textContent()).toBe(restored?.defaultSchedule);
    expect((await control('token-count-reset'))?.schedule ?? null).toBeNull();
  });

  it('pauses and resumes every job at once', async () => {
    const page = await signIn();
    await byTestId(page, 'pause-all').click();
    await expectText(status(page), 'Every job is paused');
    for (const job of JOB_NAMES) await expectText(stateOf(page, job), 'paused');
    expect(await db().collections.jobControls.countDocuments({ paused: true })).toBe(JOB_NAMES.length);

    await byTestId(page, 'resume-all').click();
    await expectText(status(page), 'Every job is resumed');
    for (const job of JOB_NAMES) await expectText(stateOf(page, job), 'idle');
    expect(await db().collections.jobControls.countDocuments({ paused: true })).toBe(0);
  });

  it('browses the history: filters by job and day, pages with Older and Newest, shows a run', async () => {
    // 24 runs of two jobs, an hour apart, the newest at 22:30 UTC on 10 March 2026; in Berlin
    // (UTC+1) they all fall on the 10th, from 00:30 to 23:30.
    const newest = Date.parse('2026-03-10T22:30:00Z');
    const seeded: RunDoc[] = [];
    for (let i = 0; i < 24; i++) {
      const job = i % 2 === 0 ? 'digest' : 'backup';
      const started = new Date(newest - i * 3_600_000);
      const failed = i === 3;
      seeded.push({
        _id: `${job}:seeded-${String(i).padStart(2, '0')}`,
        job,
        slot: failed ? null : started,
        trigger: failed ? 'manual' : 'scheduled',
        instance: `host-${i % 3}`,
        status: failed ? 'failed' : 'succeeded',
        started_at: started,
        finished_at: new Date(started.getTime() + 1_500 + i),
        heartbeat_at: started,
        attempts: failed ? 3 : 1,
        result: failed ? null : { [job === 'digest' ? 'sent' : 'documents']: 10 + i },
        error: failed ? 'backup directory is not writable' : null,
        ...(failed ? { requested_by: 'dashboard:admin' } : {}),
        expire_at: new Date(Date.now() + 86_400_000),
      });
    }
    // 23:30 UTC on the 10th is already the 11th in Berlin.
    seeded.push({
      ...seeded[0]!,
      _id: 'digest:seeded-next-day',
      started_at: new Date('2026-03-10T23:30:00Z'),
      finished_at: new Date('2026-03-10T23:30:02Z'),
    });
    // Whatever a job reports is text on the page, never markup.
    const markup = '<b>bold</b><img src="x" onerror="document.body.dataset.injected = 1">';
    seeded.push({ ...seeded[3]!, _id: 'token-count-reset:markup', job: 'token-count-reset', error: markup });
    await db().collections.runs.insertMany(seeded);
    const backups = (from: number, to: number) =>
      Array.from({ length: 24 }, (_, i) => i)
        .filter((i) => i % 2 === 1 && i >= from && i <= to)
        .map((i) => `backup:seeded-${String(i).padStart(2, '0')}`)
        .join();

    const page = await signIn(ADMIN_TOKEN, '#history');
    const rows = page.locator('tr[data-testid="run-row"]');
    const shown = async () =>
      (await rows.evaluateAll((found) => found.map((row) => row.getAttribute('data-run-id')))).join();

    // Filtered by job, ten per page: Older, then nothing older; Newest goes back.
    await byTestId(page, 'filter-job').selectOption('backup');
    await byTestId(page, 'filter-limit').selectOption('10');
    await waitFor(async () => (await shown()) === backups(1, 19), { message: 'the ten newest backups' });
    expect(new Set(await byTestId(page, 'run-job').allTextContents())).toEqual(new Set(['backup']));
    await byTestId(page, 'history-older').click();
    await waitFor(async () => (await shown()) === backups(21, 23), { message: 'the two oldest backups' });
    expect(await byTestId(page, 'history-older').isDisabled()).toBe(true);
    expect(await byTestId(page, 'history-page').textContent()).toBe('page 2');
    await byTestId(page, 'history-newest').click();
    await waitFor(async () => (await shown()) === backups(1, 19), { message: 'the first page again' });

    // A day is the scheduler's day (Berlin), paged the same way.
    await byTestId(page, 'filter-job').selectOption('digest');
    await byTestId(page, 'filter-day').fill('2026-03-11');
    await waitFor(async () => (await shown()) === 'digest:seeded-next-day', {
      message: 'the 11th in Berlin',
    });
    await byTestId(page, 'filter-day').fill('2026-03-10');
    await waitFor(async () => (await rows.count()) === 10, { message: 'the 10th, first page' });
    await byTestId(page, 'history-older').click();
    await waitFor(async () => (await shown()) === 'digest:seeded-20,digest:seeded-22', {
      message: 'the 10th, second page',
    });

    await byTestId(page, 'filter-day').fill('');
    await byTestId(page, 'filter-job').selectOption('token-count-reset');
    await waitFor(async () => (await shown()) === 'token-count-reset:markup', {
      message: 'the run with markup',
    });
    expect(await page.locator('tr[data-testid="run-row"] td').last().textContent()).toBe(markup);
    expect(await page.locator('table.runs b, table.runs img').count()).toBe(0);
    expect(await page.evaluate('document.body.dataset.injected')).toBeUndefined();

    // Status and trigger filters, then a run's detail.
    await byTestId(page, 'filter-job').selectOption('backup');
    await byTestId(page, 'filter-status').selectOption('failed');
    await waitFor(async () => (await shown()) === 'backup:seeded-03', { message: 'the failed run' });
    await byTestId(page, 'filter-trigger').selectOption('scheduled');
    await waitFor(async () => (await rows.count()) === 0, { message: 'no failed scheduled run' });
    expect(await byTestId(page, 'runs-empty').isVisible()).toBe(true);
    await byTestId(page, 'filter-trigger').selectOption('manual');
    await waitFor(async () => (await shown()) === 'backup:seeded-03', { message: 'the failed manual run' });
    await byTestId(rows.first(), 'run-open').click();
    const detail = byTestId(page, 'run-detail');
    await expectText(byTestId(detail, 'run-detail-id'), 'backup:seeded-03');
    expect(await byTestId(detail, 'run-detail-trigger').textContent()).toBe('manual');
    expect(await byTestId(detail, 'run-detail-instance').textContent()).toBe('host-0');
    expect(await byTestId(detail, 'run-detail-attempts').textContent()).toBe('3');
    expect(await byTestId(detail, 'run-detail-requested-by').textContent()).toBe('dashboard:admin');
    expect(await byTestId(detail, 'run-detail-error').textContent()).toBe('backup directory is not writable');
    expect(await byTestId(detail, 'run-detail-duration').textContent()).toBe('1.5 s');
    expect(await byTestId(detail, 'run-detail-started').textContent()).toBe('Tue 10 Mar, 20:30:00');
  });

  it('shows what waits for deletion, deletions per hour, and broadcasts; cancels a sending one', async () => {
    const now = t.now().getTime();
    const minute = 60_000;
    await db().collections.pendingDeletions.insertMany(
      [-90, -20, -1, 30, 600].map((offset, i) => ({
        user_id: 100 + i,
        chat_id: 100 + i,
        message_ids: [1, 2],
        delete_at: new Date(now + offset * minute),
        content_id: `content-${i}`,
        created_at: new Date(now - 120 * minute),
        ...(offset === -90 ? { attempts: 2, last_error: 'Too Many Requests: retry after 5' } : {}),
      })),
    );
    const hour = Math.floor(now / 3_600_000) * 3_600_000;
    const deleterRun = (id: string, started: number, deleted: number, failed: number): RunDoc => ({
      _id: `message-deleter:${id}`,
      job: 'message-deleter',
      slot: new Date(started),
      trigger: 'scheduled',
      instance: 'host-a',
      status: 'succeeded',
      started_at: new Date(started),
      finished_at: new Date(started + 800),
      heartbeat_at: new Date(started),
      attempts: 1,
      result: { messagesDeleted: deleted, failed },
      error: null,
      expire_at: new Date(Date.now() + 86_400_000),
    });
    await db().collections.runs.insertMany([
      deleterRun('a', hour + 1_000, 5, 1),
      deleterRun('b', hour + 2_000, 7, 0),
      deleterRun('c', hour - 3 * 3_600_000 + 1_000, 4, 2),
    ]);
    const sending = new ObjectId();
    await db().collections.broadcasts.insertMany([
      {
        _id: new ObjectId(),
        status: 'sent',
        created_at: new Date(now - 5 * 3_600_000),
        created_by: ADMIN_ID,
        finished_at: new Date(now - 5 * 3_600_000 + 60_000),
        delete_at: new Date(now + 19 * 3_600_000),
        source_chat_id: ADMIN_ID,
        source_message_id: 1,
        counts: { total: 10, delivered: 8, blocked: 1, failed: 1 },
      },
      {
        _id: sending,
        status: 'sending',
        created_at: new Date(now - minute),
        created_by: ADMIN_ID,
        delete_at: new Date(now + 24 * 3_600_000),
        source_chat_id: ADMIN_ID,
        source_message_id: 2,
        counts: { total: 200, delivered: 70, blocked: 6, failed: 4 },
        owner: 'another-instance',
        // Fresh (server time): no instance takes it over as interrupted while the test runs.
        heartbeat_at: new Date(),
      },
    ]);

    const page = await signIn(ADMIN_TOKEN, '#deletions');
    await expectText(byTestId(page, 'deletions-due'), '3');
    expect(await byTestId(page, 'deletions-pending').textContent()).toBe('5');
    await expectText(byTestId(page, 'deletions-oldest'), '1 h 30 min late');
    expect(await byTestId(page, 'deletions-oldest').textContent()).toContain('Too Many Requests');
    expect(await byTestId(page, 'deletions-hour').count()).toBe(24);
    const table = await page
      .locator('[data-testid="deletions-table"] tbody tr')
      .evaluateAll((rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent).slice(1)));
    expect(table).toHaveLength(24);
    expect(table[0]).toEqual(['2', '12', '1']);
    expect(table[3]).toEqual(['1', '4', '2']);
    expect(table.filter((row) => row[0] !== '0')).toHaveLength(2);

    await page.click('[data-testid="tab-broadcasts"]');
    const rows = page.locator('tr[data-testid="broadcast-row"]');
    await waitFor(async () => (await rows.count()) === 2, { message: 'two broadcasts' });
    const sendingRow = page.locator(`tr[data-broadcast-id="${sending.toHexString()}"]`);
    expect(await byTestId(sendingRow, 'broadcast-status').textContent()).toBe('sending');
    expect(await byTestId(sendingRow, 'broadcast-progress').getAttribute('value')).toBe('0.4');
    expect(await byTestId(rows.nth(1), 'broadcast-status').textContent()).toBe('sent');
    expect(await byTestId(rows.nth(1), 'broadcast-cancel').count()).toBe(0);
    expect(await byTestId(rows.nth(1), 'broadcast-counts').textContent()).toBe('8 / 1 / 1');

    await byTestId(sendingRow, 'broadcast-cancel').click();
    await expectText(status(page), 'is being cancelled');
    const cancelled = await db().collections.broadcasts.findOne({ _id: sending });
    expect(cancelled?.cancel_requested_by).toBe('dashboard:admin');
    await expectText(sendingRow, 'cancel asked by dashboard:admin');
  });

  it('gives a read-only session no actions: the buttons are disabled and the API refuses', async () => {
    const page = await signIn(VIEWER_TOKEN);
    expect(await byTestId(page, 'who').textContent()).toBe('read-only');
    await page.waitForSelector('tr[data-testid="job-row"]');
    for (const id of ['run-now', 'toggle-pause', 'edit-schedule']) {
      const states = await byTestId(page, id).evaluateAll((buttons) =>
        buttons.map((button) => button.hasAttribute('disabled')),
      );
      expect(states).toEqual(JOB_NAMES.map(() => true));
    }
    expect(await byTestId(page, 'pause-all').isDisabled()).toBe(true);
    expect(await byTestId(page, 'resume-all').isDisabled()).toBe(true);

    expectedRefusals = [/status of 403/];
    // Straight from the page, with the session's CSRF token: the server says no.
    const answer = await page.evaluate(async () => {
      const session = (await (await fetch('/api/v1/session')).json()) as { csrfToken: string };
      const response = await fetch('/api/v1/jobs/digest', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
        body: JSON.stringify({ paused: true }),
      });
      return { status: response.status, body: (await response.json()) as { message: string } };
    });
    expect(answer.status).toBe(403);
    expect(answer.body.message).toMatch(/read-only/);

    // A button enabled by hand: the page shows the refusal.
    await byTestId(jobRow(page, 'digest'), 'toggle-pause').evaluate((button) => {
      button.removeAttribute('disabled');
    });
    await byTestId(jobRow(page, 'digest'), 'toggle-pause').click();
    await expectText(status(page), 'this session is read-only');
    expect((await control('digest'))?.paused ?? false).toBe(false);
    expect(await stateOf(page, 'digest').textContent()).toBe('idle');
  });

  it('says so when the session ends while the page is open, and changes nothing', async () => {
    const page = await signIn();
    await page.waitForSelector('tr[data-testid="job-row"]');
    // As after DASHBOARD_SESSION_HOURS, or a rotated token: the session is gone from MongoDB.
    await db().collections.dashboardSessions.deleteMany({});
    expectedRefusals = [/status of 401/];
    await byTestId(jobRow(page, 'token-count-reset'), 'toggle-pause').click();
    await expectText(status(page), 'sign in again');
    expect(await byTestId(page, 'sign-in-again').getAttribute('href')).toBe('/admin/login');
    expect((await control('token-count-reset'))?.paused ?? false).toBe(false);
  });

  it('signs out: the session ends and /admin asks for the token again', async () => {
    const page = await signIn();
    const sessions = await db().collections.dashboardSessions.countDocuments();
    await Promise.all([page.waitForURL(url('/admin/login')), byTestId(page, 'sign-out').click()]);
    expect(await db().collections.dashboardSessions.countDocuments()).toBe(sessions - 1);
    await page.goto(url('/admin'));
    expect(new URL(page.url()).pathname).toBe('/admin/login');
  });
});
