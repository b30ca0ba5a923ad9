/**
 * A browser's side of the dashboard over plain fetch: it keeps cookies as a browser would (by
 * name, from Set-Cookie) and reads the CSRF token from the login form and from /api/v1/session.
 */
export class DashboardClient {
  readonly cookies = new Map<string, string>();
  /** The raw Set-Cookie headers of the last answer, to check their attributes. */
  lastSetCookies: string[] = [];
  csrfToken: string | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async request(
    method: string,
    path: string,
    options: {
      json?: unknown;
      form?: Record<string, string>;
      headers?: Record<string, string>;
      csrf?: boolean;
    } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...this.headers, ...options.headers };
    if (this.cookies.size > 0) {
      headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    }
    let body: string | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    }
    if (options.csrf !== false && this.csrfToken !== undefined && method !== 'GET') {
      headers['x-csrf-token'] = this.csrfToken;
    }
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
      redirect: 'manual',
    });
    this.lastSetCookies = response.headers.getSetCookie();
    for (const line of this.lastSetCookies) {
      const [pair] = line.split(';');
      const at = pair?.indexOf('=') ?? -1;
      if (!pair || at < 0) continue;
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (value === '' || /max-age=0/i.test(line) || /expires=thu, 01 jan 1970/i.test(line))
        this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  /** The login form's CSRF token (and its secret cookie), as a browser gets them. */
  async openLoginPage(): Promise<string> {
    const page = await this.request('GET', '/admin/login');
    const html = await page.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
    if (!token) throw new Error(`no CSRF field on the login page (status ${page.status})`);
    return token;
  }

  /** Signs in with `token`; returns the answer to the form post. */
  async login(token: string): Promise<Response> {
    const csrf = await this.openLoginPage();
    const answer = await this.request('POST', '/admin/login', { form: { token, _csrf: csrf }, csrf: false });
    if (answer.status === 303) {
      const session = await (await this.request('GET', '/api/v1/session')).json();
      this.csrfToken = (session as { csrfToken: string }).csrfToken;
    }
    return answer;
  }

  async json<T = Record<string, unknown>>(
    method: string,
    path: string,
    json?: unknown,
  ): Promise<{ status: number; body: T }> {
    const response = await this.request(method, path, json === undefined ? {} : { json });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as T };
  }
}
