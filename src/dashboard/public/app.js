// The dashboard's pages: a plain ES module, no build step, no framework. Everything shown comes
// from /api/v1 as JSON and is put on the page with DOM APIs and textContent only, so nothing
// stored in the database can ever become markup. The CSP allows no inline script or style.

const REFRESH_MS = 5_000;
/** While a run started from this page goes on, the jobs refresh this often, to show its end soon. */
const WATCH_MS = 1_000;
const WATCH_LIMIT_MS = 120_000;
const PREVIEW_DEBOUNCE_MS = 300;
const HOUR = 3_600_000;
const READ_ONLY_HINT = 'Read-only session: sign in with DASHBOARD_TOKEN to act';

const state = {
  /** GET /api/v1/session: role, canAct, csrfToken, timezone. */
  session: null,
  /** The server's clock minus the browser's, so "in 5 min" agrees with the server. */
  clockSkewMs: 0,
  tab: 'jobs',
  /** Job views by name, as last received. */
  jobs: new Map(),
  jobRows: new Map(),
  editing: null,
  previewSeq: 0,
  previewTimer: 0,
  history: { cursors: [null], page: 0, nextBefore: null, seq: 0 },
  /** Sections being loaded, and those asked to load again once that is done. */
  loading: new Set(),
  again: new Set(),
  stopped: false,
  /** When each section was last loaded (browser time). */
  loadedAt: new Map(),
  /** Until when the jobs are watched closely (a run was started here), browser time. */
  watchUntil: 0,
};

// --- small helpers ------------------------------------------------------------------------------

const $ = (selector, root = document) => root.querySelector(selector);
const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

/** An element with attributes (never `style`, never markup) and text or element children. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return node;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls /api/v1; changes carry the CSRF token. Throws ApiError with the API's own message. */
async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers['x-csrf-token'] = state.session?.csrfToken ?? '';
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch {
    throw new ApiError(0, 'the server cannot be reached');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.message === 'string' ? data.message : `HTTP ${response.status}`;
    if (response.status === 401) sessionEnded(message);
    throw new ApiError(response.status, message);
  }
  return data;
}

const now = () => Date.now() + state.clockSkewMs;

function noteServerTime(iso) {
  if (iso) state.clockSkewMs = Date.parse(iso) - Date.now();
}

function formatTime(iso, options = {}) {
  if (!iso) return '—';
  const date = new Date(iso);
  const format = new Intl.DateTimeFormat('en-GB', {
    timeZone: state.session?.timezone ?? 'UTC',
    weekday: options.weekday === false ? undefined : 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    second: options.seconds === false ? undefined : '2-digit',
    hourCycle: 'h23',
  });
  return format.format(date);
}

/** The calendar day of an instant in the scheduler's time zone, e.g. "2026-03-10". */
function dayOf(ms) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: state.session?.timezone ?? 'UTC' }).format(
    new Date(ms),
  );
}

/** For tables: "14:31:05" today, "Tue 10 Mar, 14:31" on another day. */
function formatWhen(iso) {
  if (!iso) return '—';
  if (dayOf(Date.parse(iso)) === dayOf(now())) {
    return new Intl.DateTimeFormat('en-GB', {
      timeZone: state.session?.timezone ?? 'UTC',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    }).format(new Date(iso));
  }
  return formatTime(iso, { seconds: false });
}

function formatHour(iso) {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: state.session?.timezone ?? 'UTC',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(iso));
}

function formatSpan(ms) {
  const abs = Math.abs(ms);
  if (abs < 60_000) return `${Math.round(abs / 1000)} s`;
  if (abs < HOUR) return `${Math.round(abs / 60_000)} min`;
  if (abs < 48 * HOUR) {
    const hours = Math.floor(abs / HOUR);
    const minutes = Math.round((abs % HOUR) / 60_000);
    return minutes === 0 || hours >= 10 ? `${Math.round(abs / HOUR)} h` : `${hours} h ${minutes} min`;
  }
  return `${Math.round(abs / (24 * HOUR))} days`;
}

function relative(iso) {
  if (!iso) return '';
  const delta = Date.parse(iso) - now();
  if (Math.abs(delta) < 1_000) return 'now';
  return delta > 0 ? `in ${formatSpan(delta)}` : `${formatSpan(delta)} ago`;
}

function formatDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return `${minutes} min ${seconds} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** 1234 → "1,234". */
function count(value) {
  return typeof value === 'number' ? value.toLocaleString('en-GB') : String(value);
}

/** `{messagesDeleted: 12, failed: 0}` → "messages deleted 12 · failed 0". */
function formatResult(result) {
  if (!result || typeof result !== 'object') return '';
  return Object.entries(result)
    .map(([key, value]) => `${key.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()} ${count(value)}`)
    .join(' · ');
}

/** Replaces a node's children, leaving out the absent ones (append would write "null"). */
function fill(node, ...children) {
  node.replaceChildren(
    ...children.filter((child) => child !== null && child !== undefined && child !== false),
  );
}

/** "bot-7c9f4d-x2kqp" of "bot-7c9f4d-x2kqp:1:5e0b2a91": an instance by its host name. */
function hostOf(instance) {
  return String(instance).split(':')[0];
}

/** "every hour (Europe/Berlin)" → "every hour": the header says which zone every time is in. */
function withoutZone(text) {
  const suffix = ` (${state.session?.timezone})`;
  return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
}

function badge(text, kind, testId) {
  return el('span', { class: `badge badge-${kind}`, 'data-testid': testId, text });
}

/** The status line: what the last action did, or what the API said was wrong. */
function say(message, kind = 'ok') {
  const status = byTestId('status');
  status.textContent = message;
  status.className = `status status-${kind}`;
}

function notice(message) {
  const box = byTestId('notice');
  box.replaceChildren();
  if (!message) {
    box.hidden = true;
    return;
  }
  if (typeof message === 'string') box.textContent = message;
  else box.append(message);
  box.hidden = false;
}

function sessionEnded(message) {
  if (state.stopped) return;
  state.stopped = true;
  notice(
    el(
      'span',
      {},
      `${message}. `,
      el('a', { href: '/admin/login', 'data-testid': 'sign-in-again', text: 'Sign in again' }),
    ),
  );
}

/** Runs an action from a button: the button waits, the status line shows the outcome. */
async function act(button, work) {
  if (button) button.disabled = true;
  say('Working…', 'info');
  try {
    const message = await work();
    say(message, 'ok');
  } catch (error) {
    say(error instanceof ApiError ? error.message : String(error), 'error');
  } finally {
    if (button) button.disabled = !state.session?.canAct;
  }
}

function actionButton(label, testId, onClick, extra = {}) {
  const button = el('button', { type: 'button', 'data-testid': testId, text: label, ...extra });
  if (!state.session?.canAct) {
    button.disabled = true;
    button.title = READ_ONLY_HINT;
  }
  button.addEventListener('click', () => onClick(button));
  return button;
}

// --- jobs -----------------------------------------------------------------------------------------

async function loadJobs() {
  const data = await api('GET', '/jobs');
  noteServerTime(data.serverTime);
  renderJobs(data);
  if (!data.jobs.some((job) => job.running)) state.watchUntil = 0;
  return data;
}

function renderJobs(data) {
  const tbody = $('table.jobs tbody');
  const seen = new Set();
  data.jobs.forEach((job, index) => {
    state.jobs.set(job.name, job);
    seen.add(job.name);
    let row = state.jobRows.get(job.name);
    if (!row) {
      row = makeJobRow(job.name);
      state.jobRows.set(job.name, row);
    }
    if (tbody.children[index] !== row.tr) tbody.insertBefore(row.tr, tbody.children[index] ?? null);
    fillJobRow(row, job);
  });
  for (const [name, row] of state.jobRows) {
    if (!seen.has(name)) {
      row.tr.remove();
      state.jobRows.delete(name);
    }
  }
  byTestId('schedulers-off').hidden = data.schedulersRunning !== false;
  fillJobFilter(data.jobs.map((job) => job.name));
  byTestId('jobs-updated').textContent = `updated ${formatTime(data.serverTime, { weekday: false })}`;
}

function makeJobRow(name) {
  const cells = {
    name: el('td', { class: 'job-name' }),
    schedule: el('td', { class: 'schedule' }),
    state: el('td', { class: 'state' }),
    last: el('td', { class: 'last-run' }),
    next: el('td', { class: 'next-run' }),
    counts: el('td', { class: 'num' }),
    actions: el('td', { class: 'actions' }),
  };
  const tr = el('tr', { 'data-testid': 'job-row', 'data-job': name }, ...Object.values(cells));
  const run = actionButton('Run now', 'run-now', (button) => runNow(name, button));
  const toggle = actionButton('Pause', 'toggle-pause', (button) => togglePause(name, button));
  const edit = actionButton('Edit schedule', 'edit-schedule', () => openEditor(name));
  cells.actions.append(run, toggle, edit);
  return { tr, cells, toggle };
}

function fillJobRow(row, job) {
  const { cells } = row;
  fill(
    cells.name,
    el('strong', { 'data-testid': 'job-name', text: job.name }),
    el('div', { class: 'muted small', text: job.description }),
  );

  const runtime = job.scheduleSource === 'runtime';
  const sourceTitle = runtime
    ? `Set while running${job.scheduleChangedBy ? ` by ${job.scheduleChangedBy}` : ''}${
        job.scheduleChangedAt ? ` on ${formatTime(job.scheduleChangedAt)}` : ''
      }; the environment's default is ${job.defaultSchedule}`
    : "The environment's schedule";
  fill(
    cells.schedule,
    el('code', { 'data-testid': 'job-schedule', text: job.schedule }),
    ' ',
    el('span', {
      class: `tag ${runtime ? 'tag-runtime' : 'tag-default'}`,
      'data-testid': 'job-schedule-source',
      title: sourceTitle,
      text: runtime ? 'run-time' : 'default',
    }),
    el('div', {
      class: 'muted small',
      'data-testid': 'job-schedule-text',
      text: withoutZone(job.scheduleText),
    }),
  );

  const stateCell = [badge(job.state, job.state, 'job-state')];
  if (job.running) {
    if (job.paused) stateCell.push(' ', badge('paused', 'paused', 'job-paused'));
    stateCell.push(
      el('div', {
        class: 'muted small',
        title: `run ${job.running.runId} on ${job.running.instance}`,
        text: `${job.running.trigger}, since ${formatWhen(job.running.startedAt)}`,
      }),
      el('div', { class: 'muted small', text: `on ${hostOf(job.running.instance)}` }),
    );
  }
  fill(cells.state, ...stateCell);

  if (job.lastRun) {
    const last = job.lastRun;
    const facts = [formatDuration(last.durationMs)];
    if (last.trigger !== 'scheduled') facts.push(last.trigger);
    const result = formatResult(last.result);
    if (!last.error && result) facts.push(result);
    fill(
      cells.last,
      badge(last.status, last.status, 'job-last-status'),
      ' ',
      el('span', { title: formatTime(last.startedAt), text: formatWhen(last.startedAt) }),
      el('div', { class: 'muted small', 'data-testid': 'job-last-facts', text: facts.join(' · ') }),
      last.error ? el('div', { class: 'error small clip', title: last.error, text: last.error }) : null,
    );
  } else {
    fill(cells.last, el('span', { class: 'muted', text: 'never run' }));
  }

  if (job.nextRun) {
    fill(
      cells.next,
      el('span', {
        class: job.paused ? 'struck' : '',
        title: formatTime(job.nextRun),
        text: formatWhen(job.nextRun),
      }),
      el('div', { class: 'muted small', text: job.paused ? 'paused: skipped' : relative(job.nextRun) }),
    );
  } else {
    fill(
      cells.next,
      el('span', { class: 'muted', title: 'The schedulers do not run on this instance', text: '—' }),
    );
  }

  const failed = job.last24h?.failed ?? 0;
  fill(
    cells.counts,
    el('span', { 'data-testid': 'job-24h-ok', text: String(job.last24h?.succeeded ?? 0) }),
    ' / ',
    el('span', {
      class: failed > 0 ? 'error strong' : '',
      'data-testid': 'job-24h-failed',
      text: String(failed),
    }),
  );

  row.toggle.textContent = job.paused ? 'Resume' : 'Pause';
}

async function runNow(name, button) {
  await act(button, async () => {
    let answer;
    try {
      answer = await api('POST', `/jobs/${encodeURIComponent(name)}/run`);
    } catch (error) {
      // 409: it runs somewhere already; the table shows that run at once.
      if (error instanceof ApiError && error.status === 409) refreshSoon();
      throw error;
    }
    state.watchUntil = Date.now() + WATCH_LIMIT_MS;
    refreshSoon();
    return `${name} started (run ${answer.runId}).`;
  });
}

async function togglePause(name, button) {
  const paused = !state.jobs.get(name)?.paused;
  await act(button, async () => {
    const answer = await api('PATCH', `/jobs/${encodeURIComponent(name)}`, { paused });
    if (answer.job) updateJob(answer.job);
    return paused ? `${name} is paused: its scheduled runs are skipped.` : `${name} is resumed.`;
  });
}

function updateJob(job) {
  const row = state.jobRows.get(job.name);
  state.jobs.set(job.name, job);
  if (row) fillJobRow(row, job);
}

async function pauseAll(button, paused) {
  await act(button, async () => {
    const answer = await api('POST', paused ? '/jobs/pause-all' : '/jobs/resume-all');
    for (const job of answer.jobs ?? []) updateJob(job);
    return paused ? 'Every job is paused.' : 'Every job is resumed.';
  });
}

// --- the schedule editor ----------------------------------------------------------------------------

function openEditor(name) {
  const job = state.jobs.get(name);
  if (!job) return;
  state.editing = name;
  const form = byTestId('schedule-editor');
  byTestId('editor-job').textContent = name;
  byTestId('editor-timezone').textContent = `(${job.timezone})`;
  byTestId('editor-default').textContent = job.defaultSchedule;
  const input = byTestId('schedule-input');
  input.value = job.schedule;
  form.hidden = false;
  input.focus();
  input.select();
  previewNow();
}

function closeEditor() {
  state.editing = null;
  state.previewSeq += 1;
  clearTimeout(state.previewTimer);
  byTestId('schedule-editor').hidden = true;
  byTestId('schedule-problem').hidden = true;
  byTestId('schedule-preview').hidden = true;
}

function schedulePreview() {
  clearTimeout(state.previewTimer);
  state.previewTimer = setTimeout(previewNow, PREVIEW_DEBOUNCE_MS);
}

async function previewNow() {
  const name = state.editing;
  if (!name) return;
  const seq = ++state.previewSeq;
  const schedule = byTestId('schedule-input').value.trim();
  const problem = byTestId('schedule-problem');
  const preview = byTestId('schedule-preview');
  const show = (message) => {
    if (seq !== state.previewSeq) return;
    problem.textContent = message;
    problem.hidden = false;
    preview.hidden = true;
    byTestId('schedule-preview-text').textContent = '';
    byTestId('schedule-preview-times').replaceChildren();
  };
  if (schedule === '') return show('Enter a schedule, e.g. "0 */6 * * *" (every six hours).');
  try {
    const answer = await api(
      'GET',
      `/jobs/${encodeURIComponent(name)}/schedule-preview?schedule=${encodeURIComponent(schedule)}`,
    );
    if (seq !== state.previewSeq) return;
    byTestId('schedule-preview-text').textContent = answer.scheduleText;
    byTestId('schedule-preview-times').replaceChildren(
      ...answer.next.map((time) =>
        el(
          'li',
          { 'data-testid': 'schedule-preview-time', title: time.at },
          time.local,
          ' ',
          el('span', { class: 'muted', text: `(${relative(time.at)})` }),
        ),
      ),
    );
    problem.hidden = true;
    preview.hidden = false;
  } catch (error) {
    show(error instanceof ApiError ? error.message : String(error));
  }
}

async function saveSchedule(button, schedule) {
  const name = state.editing;
  if (!name) return;
  await act(button, async () => {
    const answer = await api('PATCH', `/jobs/${encodeURIComponent(name)}`, { schedule });
    if (answer.job) updateJob(answer.job);
    closeEditor();
    const job = answer.job;
    return job
      ? `${name} now runs on "${job.schedule}": ${job.scheduleText}${job.scheduleSource === 'environment' ? ", the environment's default" : ''}.`
      : `${name}: schedule saved.`;
  });
}

// --- history ----------------------------------------------------------------------------------------

function fillJobFilter(names) {
  const select = byTestId('filter-job');
  const known = new Set([...select.options].map((option) => option.value));
  for (const name of names) {
    if (!known.has(name)) select.append(el('option', { value: name, text: name }));
  }
}

/** Milliseconds to add to UTC to get the wall clock of `timezone` at `date`. */
function zoneOffset(date, timezone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(date);
  const get = (type) => Number(parts.find((part) => part.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(date.getTime() / 1000) * 1000;
}

/** The instant a day (year, month 1-12, day) begins in `timezone`. */
function startOfDay(year, month, day, timezone) {
  const wall = Date.UTC(year, month - 1, day);
  let at = wall - zoneOffset(new Date(wall), timezone);
  at = wall - zoneOffset(new Date(at), timezone);
  return new Date(at);
}

/**
 * The query of the history filters. A day is read in the scheduler's time zone (the one every
 * time on the page is shown in): `since` is its first instant, `before` the next day's first.
 */
function historyQuery() {
  const form = byTestId('history-filters');
  const params = new URLSearchParams();
  for (const name of ['job', 'status', 'trigger']) {
    const value = form.elements[name].value;
    if (value) params.set(name, value);
  }
  params.set('limit', form.elements.limit.value);
  const day = form.elements.day.value;
  const cursor = state.history.cursors[state.history.page];
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (match) {
    const timezone = state.session.timezone;
    const [year, month, date] = match.slice(1).map(Number);
    params.set('since', startOfDay(year, month, date, timezone).toISOString());
    if (!cursor) params.set('before', startOfDay(year, month, date + 1, timezone).toISOString());
  }
  if (cursor) params.set('before', cursor);
  return params;
}

async function loadHistory() {
  const seq = ++state.history.seq;
  const data = await api('GET', `/runs?${historyQuery()}`);
  if (seq !== state.history.seq) return;
  state.history.nextBefore = data.nextBefore;
  const tbody = $('table.runs tbody');
  tbody.replaceChildren(...data.runs.map(runRow));
  byTestId('runs-empty').hidden = data.runs.length > 0;
  byTestId('history-older').disabled = !data.nextBefore;
  byTestId('history-newer').disabled = state.history.page === 0;
  byTestId('history-newest').disabled = state.history.page === 0;
  byTestId('history-page').textContent = `page ${state.history.page + 1}`;
}

function runRow(run) {
  const open = el('button', {
    type: 'button',
    class: 'link',
    'data-testid': 'run-open',
    title: 'Show this run',
    text: formatTime(run.startedAt),
  });
  open.addEventListener('click', () => {
    for (const row of document.querySelectorAll('tr.selected')) row.classList.remove('selected');
    open.closest('tr')?.classList.add('selected');
    showRun(run.id).catch((error) => say(error.message, 'error'));
  });
  const outcome = run.error
    ? el('span', { class: 'error clip', title: run.error, text: run.error })
    : run.reason
      ? el('span', { class: 'muted', text: run.reason })
      : el('span', { text: formatResult(run.result) });
  return el(
    'tr',
    { 'data-testid': 'run-row', 'data-run-id': run.id, 'data-job': run.job },
    el('td', {}, open),
    el('td', { 'data-testid': 'run-job', text: run.job }),
    el('td', { 'data-testid': 'run-trigger', text: run.trigger }),
    el('td', {}, badge(run.status, run.status, 'run-status')),
    el('td', { class: 'num', text: formatDuration(run.durationMs) }),
    el('td', { class: 'small' }, outcome),
  );
}

async function showRun(id) {
  const { run } = await api('GET', `/runs/${encodeURIComponent(id)}`);
  const facts = [
    ['Job', run.job],
    ['Status', run.status],
    ['Trigger', run.trigger],
    ['Requested by', run.requestedBy ?? '—'],
    ['Instance', run.instance],
    ['Attempts', String(run.attempts)],
    ['Scheduled slot', run.slot ? formatTime(run.slot) : '— (not a scheduled run)'],
    ['Started', formatTime(run.startedAt)],
    ['Finished', run.finishedAt ? formatTime(run.finishedAt) : '— (still running)'],
    ['Duration', formatDuration(run.durationMs)],
    ['Result', formatResult(run.result) || '—'],
    ['Error', run.error ?? '—'],
    ['Reason', run.reason ?? '—'],
  ];
  byTestId('run-detail-id').textContent = run.id;
  byTestId('run-detail-facts').replaceChildren(
    ...facts.flatMap(([label, value]) => [
      el('dt', { text: label }),
      el('dd', {
        'data-testid': `run-detail-${label.toLowerCase().replaceAll(' ', '-')}`,
        class: label === 'Error' && run.error ? 'error' : '',
        text: value,
      }),
    ]),
  );
  const panel = byTestId('run-detail');
  panel.hidden = false;
  panel.scrollIntoView({ block: 'nearest' });
}

function restartHistory() {
  state.history.cursors = [null];
  state.history.page = 0;
  byTestId('run-detail').hidden = true;
  return loadHistory();
}

// --- deletions --------------------------------------------------------------------------------------

async function loadDeletions() {
  const data = await api('GET', '/deletions');
  byTestId('deletions-due').textContent = count(data.due);
  byTestId('deletions-pending').textContent = count(data.pending);
  const oldest = byTestId('deletions-oldest');
  if (data.oldestDue) {
    const late = data.oldestDue.overdueMs;
    oldest.replaceChildren(
      el('span', { text: `due ${formatTime(data.oldestDue.deleteAt)}` }),
      el('span', { class: late > 5 * 60_000 ? 'error' : 'muted', text: ` · ${formatSpan(late)} late` }),
      el('div', {
        class: 'muted small',
        text: `chat ${data.oldestDue.chatId}, ${data.oldestDue.attempts} attempt(s)${
          data.oldestDue.lastError ? `, last error: ${data.oldestDue.lastError}` : ''
        }`,
      }),
    );
  } else {
    oldest.textContent = 'nothing overdue';
  }

  // Every hour of the last 24, the empty ones too (the API lists only hours with runs).
  const byHour = new Map(data.perHour.map((hour) => [Date.parse(hour.hour), hour]));
  const first = Math.floor(now() / HOUR) * HOUR - 23 * HOUR;
  const hours = Array.from({ length: 24 }, (_, i) => {
    const at = first + i * HOUR;
    return byHour.get(at) ?? { hour: new Date(at).toISOString(), runs: 0, deleted: 0, failed: 0 };
  });
  const top = Math.max(1, ...hours.map((hour) => hour.deleted + hour.failed));
  const totals = hours.reduce(
    (sum, hour) => ({ deleted: sum.deleted + hour.deleted, failed: sum.failed + hour.failed }),
    { deleted: 0, failed: 0 },
  );
  byTestId('deletions-totals').textContent =
    `${count(totals.deleted)} deleted and ${count(totals.failed)} failed in 24 hours; the tallest bar is ${count(top)}.`;
  byTestId('deletions-chart').replaceChildren(
    ...hours.map((hour, i) => {
      const label = `${formatHour(hour.hour)}: ${hour.deleted} deleted, ${hour.failed} failed, ${hour.runs} runs`;
      const deleted = el('div', { class: 'bar deleted' });
      const failed = el('div', { class: 'bar failed' });
      // CSSOM, not a style attribute: allowed by style-src 'self'.
      deleted.style.height = `${(hour.deleted / top) * 100}%`;
      failed.style.height = `${(hour.failed / top) * 100}%`;
      return el(
        'div',
        { class: 'column', title: label, 'aria-label': label, 'data-testid': 'deletions-hour' },
        el('div', { class: 'bars' }, failed, deleted),
        el('div', { class: 'tick', text: i % 3 === 0 ? formatHour(hour.hour) : '' }),
      );
    }),
  );
  $('table[data-testid="deletions-table"] tbody').replaceChildren(
    ...hours
      .slice()
      .reverse()
      .map((hour) =>
        el(
          'tr',
          {},
          el('td', { text: formatTime(hour.hour, { seconds: false }) }),
          el('td', { class: 'num', text: String(hour.runs) }),
          el('td', { class: 'num', text: String(hour.deleted) }),
          el('td', { class: hour.failed > 0 ? 'num error' : 'num', text: String(hour.failed) }),
        ),
      ),
  );
  byTestId('deletions-updated').textContent =
    `updated ${formatTime(new Date(now()).toISOString(), { weekday: false })}`;
}

// --- broadcasts -------------------------------------------------------------------------------------

async function loadBroadcasts() {
  const data = await api('GET', '/broadcasts');
  byTestId('broadcasts-empty').hidden = data.broadcasts.length > 0;
  $('table.broadcasts tbody').replaceChildren(...data.broadcasts.map(broadcastRow));
  byTestId('broadcasts-updated').textContent =
    `updated ${formatTime(new Date(now()).toISOString(), { weekday: false })}`;
}

function broadcastRow(broadcast) {
  const { counts } = broadcast;
  const done = counts.delivered + counts.blocked + counts.failed;
  const progress = el('progress', {
    max: '1',
    value: String(broadcast.progress),
    'data-testid': 'broadcast-progress',
  });
  const actions = el('td', { class: 'actions' });
  if (broadcast.status === 'sending') {
    if (broadcast.cancelRequestedAt) {
      actions.append(
        el('span', {
          class: 'muted small',
          text: `cancel asked${broadcast.cancelRequestedBy ? ` by ${broadcast.cancelRequestedBy}` : ''} ${relative(broadcast.cancelRequestedAt)}`,
        }),
      );
    } else {
      actions.append(
        actionButton('Cancel', 'broadcast-cancel', (button) =>
          act(button, async () => {
            await api('POST', `/broadcasts/${encodeURIComponent(broadcast.id)}/cancel`);
            refreshSoon();
            return `Broadcast ${broadcast.id} is being cancelled: no more copies are sent.`;
          }),
        ),
      );
    }
  }
  return el(
    'tr',
    { 'data-testid': 'broadcast-row', 'data-broadcast-id': broadcast.id },
    el(
      'td',
      {},
      el('span', { title: broadcast.createdAt, text: formatTime(broadcast.createdAt) }),
      el('div', { class: 'muted small', text: `by ${broadcast.createdBy}` }),
    ),
    el('td', {}, badge(broadcast.status, broadcast.status, 'broadcast-status')),
    el(
      'td',
      { class: 'progress' },
      progress,
      el('div', {
        class: 'muted small',
        text: `${count(done)} of ${count(counts.total)} (${Math.round(broadcast.progress * 100)} %)`,
      }),
    ),
    el(
      'td',
      { 'data-testid': 'broadcast-counts' },
      el('span', { text: count(counts.delivered) }),
      ' / ',
      el('span', { text: count(counts.blocked) }),
      ' / ',
      el('span', { class: counts.failed > 0 ? 'error' : '', text: count(counts.failed) }),
    ),
    el(
      'td',
      {},
      el('span', { title: broadcast.deleteAt, text: formatTime(broadcast.deleteAt, { seconds: false }) }),
      el('div', {
        class: 'muted small',
        text: broadcast.expired ? 'expired: copies deleted' : relative(broadcast.deleteAt),
      }),
    ),
    actions,
  );
}

// --- tabs and refreshing ----------------------------------------------------------------------------

const LOADERS = {
  jobs: loadJobs,
  history: loadHistory,
  deletions: loadDeletions,
  broadcasts: loadBroadcasts,
};
/** The sections that refresh themselves; history stays on the page being read. */
const LIVE = new Set(['jobs', 'deletions', 'broadcasts']);

function showTab(tab) {
  const wanted = LOADERS[tab] ? tab : 'jobs';
  // The status line speaks of the last action; it belongs to the section it was taken in.
  if (wanted !== state.tab) say('', 'ok');
  state.tab = wanted;
  for (const section of document.querySelectorAll('[data-section]')) {
    section.hidden = section.dataset.section !== state.tab;
  }
  for (const link of document.querySelectorAll('[data-tab]')) {
    if (link.dataset.tab === state.tab) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  return refresh();
}

/** Loads a section; asked again while it loads, it loads once more afterwards (never twice at once). */
async function refresh(tab = state.tab) {
  if (state.stopped) return;
  if (state.loading.has(tab)) {
    state.again.add(tab);
    return;
  }
  state.loading.add(tab);
  try {
    await LOADERS[tab]();
    state.loadedAt.set(tab, Date.now());
    if (!state.stopped) notice(null);
  } catch (error) {
    if (!state.stopped) notice(`Could not refresh: ${error.message}`);
  } finally {
    state.loading.delete(tab);
  }
  if (state.again.delete(tab) && tab === state.tab) await refresh(tab);
}

/** After an action: shows its effect at once rather than at the next tick. */
function refreshSoon() {
  if (LIVE.has(state.tab)) void refresh();
}

/** Every second: a live section is reloaded every 5 seconds, the jobs every second while a run started here goes on. */
function tick() {
  if (document.visibilityState !== 'visible' || !LIVE.has(state.tab)) return;
  const since = Date.now() - (state.loadedAt.get(state.tab) ?? 0);
  const watching = state.tab === 'jobs' && Date.now() < state.watchUntil;
  if (since >= REFRESH_MS - WATCH_MS / 2 || (watching && since >= WATCH_MS - 100)) void refresh();
}

// --- start ------------------------------------------------------------------------------------------

function wire() {
  window.addEventListener('hashchange', () => void showTab(location.hash.slice(1)));
  byTestId('pause-all').addEventListener('click', (event) => pauseAll(event.currentTarget, true));
  byTestId('resume-all').addEventListener('click', (event) => pauseAll(event.currentTarget, false));

  const editor = byTestId('schedule-editor');
  byTestId('schedule-input').addEventListener('input', schedulePreview);
  editor.addEventListener('submit', (event) => {
    event.preventDefault();
    void saveSchedule(byTestId('schedule-save'), byTestId('schedule-input').value.trim());
  });
  byTestId('schedule-default').addEventListener('click', (event) =>
    saveSchedule(event.currentTarget, 'default'),
  );
  byTestId('schedule-close').addEventListener('click', closeEditor);

  const filters = byTestId('history-filters');
  filters.addEventListener('change', () => restartHistory().catch((error) => say(error.message, 'error')));
  filters.addEventListener('submit', (event) => event.preventDefault());
  const go = (page) => {
    state.history.page = page;
    loadHistory().catch((error) => say(error.message, 'error'));
  };
  byTestId('history-refresh').addEventListener('click', () =>
    loadHistory().catch((error) => say(error.message, 'error')),
  );
  byTestId('history-newest').addEventListener('click', () => {
    state.history.cursors = [null];
    go(0);
  });
  byTestId('history-newer').addEventListener('click', () => go(Math.max(0, state.history.page - 1)));
  byTestId('history-older').addEventListener('click', () => {
    if (!state.history.nextBefore) return;
    state.history.cursors = state.history.cursors.slice(0, state.history.page + 1);
    state.history.cursors.push(state.history.nextBefore);
    go(state.history.page + 1);
  });
  $('[data-action="detail-close"]').addEventListener('click', () => {
    byTestId('run-detail').hidden = true;
  });
}

async function start() {
  wire();
  let session;
  try {
    session = await api('GET', '/session');
  } catch (error) {
    if (!state.stopped) notice(`Could not start: ${error.message}`);
    return;
  }
  state.session = session;
  noteServerTime(session.serverTime);
  const who = byTestId('who');
  who.textContent = session.canAct ? 'admin' : 'read-only';
  who.className = `badge ${session.canAct ? 'badge-admin' : 'badge-viewer'}`;
  who.title = session.canAct ? 'Signed in with DASHBOARD_TOKEN' : READ_ONLY_HINT;
  byTestId('timezone').textContent = `times in ${session.timezone}`;
  byTestId('logout-csrf').value = session.csrfToken ?? '';
  for (const id of ['pause-all', 'resume-all']) {
    const button = byTestId(id);
    button.disabled = !session.canAct;
    if (!session.canAct) button.title = READ_ONLY_HINT;
  }
  document.body.dataset.role = session.role;
  const first = location.hash.slice(1) || 'jobs';
  // The job names feed the history filter, whatever the first tab is.
  if (first !== 'jobs') loadJobs().catch(() => {});
  await showTab(first);
  document.body.dataset.ready = 'true';
  setInterval(tick, WATCH_MS);
}

void start();
