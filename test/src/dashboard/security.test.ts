import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_NAMES } from '../../../schedulers/jobs/catalog.js';
import { cookieOptions } from '../../../src/dashboard/auth.js';
import { CONTENT_SECURITY_POLICY } from '../../../src/dashboard/headers.js';
import { startTestApp, type TestApp } from '../../support/app-harness.js';
import { DashboardClient } from '../../support/dashboard-client.js';
import { useTestDatabase } from '../../support/test-db.js';
import { useFakeBotApi } from '../../support/use-fake-bot-api.js';

const ADMIN_TOKEN = 'adm1n-T0ken-for-the-dashboard-tests-0123456789';
const VIEWER_TOKEN = 'v1ewer-T0ken-for-the-dashboard-tests-987654321';
const HOUR = 3_600_000;
const JOB = JOB_NAMES[0];

describe('dashboard security: closed by default, sessions, read-only, CSRF, login limit', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let t: TestApp;
  let address = 0;
  /** Each client comes from its own address (through the trusted proxy), so limits do not mix. */
  const client = (headers: Record<string, string> = {}) => {
    address += 1;
    return new DashboardClient(t.app.opsUrl ?? '', { 'x-forwarded-for': `10.0.0.${address}`, ...headers });
  };
  const control = () => db().collections.jobControls.findOne({ _id: JOB });
  const auditOf = (action: string) => db().collections.audit.find({ action }).sort({ at: 1 }).toArray();

  beforeAll(async () => {
    t = await startTestApp(db(), fake, {
      HTTP_PORT: '0',
      HTTP_TRUSTED_PROXIES: '127.0.0.1',
      DASHBOARD_TOKEN: ADMIN_TOKEN,
      DASHBOARD_READONLY_TOKEN: VIEWER_TOKEN,
    });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('answers 401 with a JSON message to every API route without credentials, and sends /admin to the login page', async () => {
    const c = client();
    for (const [method, path] of [
      ['GET', '/api/v1/jobs'],
      ['GET', `/api/v1/jobs/${JOB}`],
      ['PATCH', `/api/v1/jobs/${JOB}`],
      ['POST', `/api/v1/jobs/${JOB}/run`],
      ['GET', '/api/v1/runs'],
      ['GET', '/api/v1/broadcasts'],
      ['GET', '/api/v1/openapi.json'],
      ['GET', '/api/v1/no-such-thing'],
    ] as const) {
      const answer = await c.json(method, path, method === 'PATCH' ? { paused: true } : undefined);
      expect(answer, `${method} ${path}`).toEqual({
        status: 401,
        body: {
          error: 'unauthorized',
          message: 'sign in at /admin/login, or send Authorization: Bearer <token>',
        },
      });
    }
    const page = await c.request('GET', '/admin');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/admin/login');
    expect(await control()).toBeNull();
  });

  it('refuses a wrong bearer token and a wrong login, and opens no session', async () => {
    const wrong = client({ authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}x` });
    expect(await wrong.json('GET', '/api/v1/jobs')).toEqual({
      status: 401,
      body: { error: 'unauthorized', message: 'the bearer token is not valid' },
    });
    const browser = client();
    const answer = await browser.login(`${ADMIN_TOKEN}x`);
    expect(answer.status).toBe(401);
    expect(await answer.text()).toContain('That token is not right.');
    expect(browser.cookies.has('dashboard_session')).toBe(false);
    expect((await browser.json('GET', '/api/v1/jobs')).status).toBe(401);
    expect(await auditOf('login')).toContainEqual(
      expect.objectContaining({ outcome: 'refused', actor: 'anonymous', address: '10.0.0.' + address }),
    );
  });

  it('a login sets an HttpOnly, SameSite=Strict, Secure session cookie that lasts DASHBOARD_SESSION_HOURS', async () => {
    const browser = client();
    const answer = await browser.login(ADMIN_TOKEN);
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/admin');
    const line = (await freshLogin(client())).find((cookie) => cookie.startsWith('dashboard_session='));
    expect(line).toBeDefined();
    expect(line).toMatch(/; Max-Age=43200(;|$)/);
    expect(line).toMatch(/; Path=\/(;|$)/);
    expect(line).toMatch(/; HttpOnly(;|$)/);
    expect(line).toMatch(/; Secure(;|$)/);
    expect(line).toMatch(/; SameSite=Strict(;|$)/);
    // Only a hash of the cookie is stored.
    const id = line?.split(';')[0]?.split('=')[1] ?? '';
    expect(await db().collections.dashboardSessions.countDocuments({ _id: id })).toBe(0);
    expect(await db().collections.dashboardSessions.countDocuments({ role: 'admin' })).toBeGreaterThan(0);
    // DASHBOARD_INSECURE_COOKIE=true is the only way to drop Secure.
    expect(cookieOptions({ insecureCookie: true }).secure).toBe(false);
    expect(cookieOptions({ insecureCookie: false }).secure).toBe(true);
    const session = await browser.json('GET', '/api/v1/session');
    expect(session.body).toMatchObject({ role: 'admin', canAct: true, via: 'session' });
  });

  it('a session ends after DASHBOARD_SESSION_HOURS and at logout', async () => {
    const browser = client();
    await browser.login(ADMIN_TOKEN);
    expect((await browser.json('GET', '/api/v1/jobs')).status).toBe(200);
    t.advance(12 * HOUR + 1_000);
    expect(await browser.json('GET', '/api/v1/jobs')).toEqual({
      status: 401,
      body: { error: 'unauthorized', message: 'the session has expired; sign in again at /admin/login' },
    });
    const again = client();
    await again.login(ADMIN_TOKEN);
    expect((await again.json('GET', '/api/v1/jobs')).status).toBe(200);
    const logout = await again.request('POST', '/admin/logout', { form: {} });
    expect(logout.status).toBe(303);
    again.cookies.set('dashboard_session', 'replayed'); // a stolen old cookie value changes nothing either
    expect((await again.json('GET', '/api/v1/jobs')).status).toBe(401);
  });

  it('a state-changing request from a session without the CSRF token is refused and changes nothing', async () => {
    const browser = client();
    await browser.login(ADMIN_TOKEN);
    const missing = await browser.request('PATCH', `/api/v1/jobs/${JOB}`, {
      json: { paused: true },
      csrf: false,
    });
    expect(missing.status).toBe(403);
    expect(await missing.json()).toEqual({
      error: 'forbidden',
      message: 'missing or invalid CSRF token: reload the page',
    });
    const forged = await browser.request('POST', `/api/v1/jobs/pause-all`, {
      csrf: false,
      headers: { 'x-csrf-token': 'forged-token' },
    });
    expect(forged.status).toBe(403);
    const logout = await browser.request('POST', '/admin/logout', { csrf: false, form: {} });
    expect(logout.status).toBe(403);
    expect(await control()).toBeNull();
    expect(await db().collections.jobControls.countDocuments({ paused: true })).toBe(0);
    // The login form is protected too.
    const fresh = client();
    await fresh.openLoginPage();
    const noToken = await fresh.request('POST', '/admin/login', {
      form: { token: ADMIN_TOKEN },
      csrf: false,
    });
    expect(noToken.status).toBe(403);
    expect(fresh.cookies.has('dashboard_session')).toBe(false);
  });

  it('the read-only token sees everything and may change nothing (session and bearer)', async () => {
    const viewer = client();
    expect((await viewer.login(VIEWER_TOKEN)).status).toBe(303);
    expect((await viewer.json('GET', '/api/v1/session')).body).toMatchObject({
      role: 'viewer',
      canAct: false,
    });
    expect((await viewer.json('GET', '/api/v1/jobs')).status).toBe(200);
    const bearer = client({ authorization: `Bearer ${VIEWER_TOKEN}` });
    for (const who of [viewer, bearer]) {
      for (const [method, path, body] of [
        ['PATCH', `/api/v1/jobs/${JOB}`, { paused: true }],
        ['PATCH', `/api/v1/jobs/${JOB}`, { schedule: '*/5 * * * *' }],
        ['POST', `/api/v1/jobs/${JOB}/run`, undefined],
        ['POST', '/api/v1/jobs/pause-all', undefined],
        ['POST', '/api/v1/broadcasts/0123456789abcdef01234567/cancel', undefined],
      ] as const) {
        const answer = await who.json(method, path, body);
        expect(answer, `${method} ${path}`).toEqual({
          status: 403,
          body: {
            error: 'forbidden',
            message:
              'this session is read-only (DASHBOARD_READONLY_TOKEN); sign in with DASHBOARD_TOKEN to act',
          },
        });
      }
    }
    expect(await control()).toBeNull();
    expect(await db().collections.runs.countDocuments({ job: JOB, trigger: 'manual' })).toBe(0);
    const refused = await db()
      .collections.audit.find({ outcome: 'refused', actor: /viewer$/ })
      .toArray();
    expect(refused).toHaveLength(10);
    expect(refused[0]?.credential).toMatch(/^DASHBOARD_READONLY_TOKEN#[0-9a-f]{8}$/);
  });

  it('after five failed logins an address must wait, even with the right token; other addresses are not held up', async () => {
    const attacker = client();
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      expect((await attacker.login(`wrong-${attempt}-${'x'.repeat(32)}`)).status).toBe(401);
    }
    const locked = await attacker.login(ADMIN_TOKEN);
    expect(locked.status).toBe(429);
    expect(await locked.text()).toContain(
      'Too many failed sign-ins from your address; try again in 15 minutes.',
    );
    expect(attacker.cookies.has('dashboard_session')).toBe(false);
    // Bearer guesses from that address are held up as well.
    const sameAddress = new DashboardClient(t.app.opsUrl ?? '', {
      'x-forwarded-for': `10.0.0.${address}`,
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect((await sameAddress.json('GET', '/api/v1/jobs')).status).toBe(429);
    const neighbour = client();
    expect((await neighbour.login(ADMIN_TOKEN)).status).toBe(303);
  });

  it('bearer guesses count as failed logins', async () => {
    const guesser = client({ authorization: `Bearer ${'g'.repeat(40)}` });
    for (let attempt = 1; attempt <= 5; attempt += 1)
      expect((await guesser.json('GET', '/api/v1/jobs')).status).toBe(401);
    expect((await guesser.json('GET', '/api/v1/jobs')).body).toEqual({
      error: 'too_many_requests',
      message: 'too many failed attempts from this address; try again later',
    });
  });

  it('pages and API answers carry a strict Content-Security-Policy and load nothing from elsewhere', async () => {
    const c = client();
    const login = await c.request('GET', '/admin/login');
    expect(login.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(login.headers.get('x-frame-options')).toBe('DENY');
    const html = await login.text();
    expect(html).not.toMatch(/<script(?![^>]*src="\/admin\/assets\/)/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    await c.login(ADMIN_TOKEN);
    const page = await c.request('GET', '/admin');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(await page.text()).not.toMatch(/(src|href)="(https?:)?\/\//);
    const api = await c.request('GET', '/api/v1/jobs');
    expect(api.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
  });

  it('never writes a token into a log line', () => {
    const text = JSON.stringify(t.logs.records());
    expect(text).toContain('dashboard');
    expect(text).not.toContain(ADMIN_TOKEN);
    expect(text).not.toContain(VIEWER_TOKEN);
  });
});

async function freshLogin(c: DashboardClient): Promise<string[]> {
  const csrf = await c.openLoginPage();
  await c.request('POST', '/admin/login', { form: { token: ADMIN_TOKEN, _csrf: csrf }, csrf: false });
  return c.lastSetCookies;
}
