import { BSON, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTION_NAMES } from '../../db/collections.js';
import { checkCronExpression } from '../../schedulers/cron-schedule.js';
import { deleterOf, JOB_NAMES } from '../../schedulers/jobs/catalog.js';

import { startTestApp, type TestApp, TestUser } from '../support/app-harness.js';
import type { FakeUser } from '../support/fake-bot-api/index.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const LEASES_COLLECTION = COLLECTION_NAMES.leases;
const AUDIT_COLLECTION = COLLECTION_NAMES.audit;

const ADMIN: FakeUser = { id: 9300, first_name: 'Root' };
const USER: FakeUser = { id: 9301, first_name: 'Eve' };
/** Every job of the catalog (a new job changes /run's list of jobs). */
const JOBS: string[] = [...JOB_NAMES];
const MAX_TEXT = 4096;
const MAX_CALLBACK_BYTES = 64;
const SEED = 0x7a11;

// --- The refusals the bot must give (README: "a bad one gets a message saying what was wrong") --

// The longest duration depends on the deleters' schedules (48 hours less their period): the
// refusal names it and says why.
const DURATION_REFUSAL =
  /^((A duration is missing\.|“[^\n]*” is not a duration\.) Use minutes like 10, or 10m, 2h, 1h30m\.|The duration must be between 1 minute and [^;\n]+; “[^\n]*” is [^\n]+\.)\nThe longest is [^:\n]+: Telegram lets the bot delete messages only for 48 hours, and the deletion must land inside them\./;
const BROADCAST_USAGE =
  'Reply to the message to send with /broadcast <how long it stays>, e.g. /broadcast 6h';
const BYPASS_USAGE = 'Usage: /bypass <user_id> [days], e.g. /bypass 123456789 7';
const SCHEDULE_USAGE =
  'Usage: /schedule <job> <cron expression> (5 fields, or 6 with seconds first), e.g. /schedule backup 0 4 * * *\nBack to the schedule from the environment: /schedule <job> default';
const REFUSALS = {
  save: /^Reply \/save \(with nothing after it\) to the message you want to share\.$/,
  setdeletetime: new RegExp(`${DURATION_REFUSAL.source}\\nExample: /setdeletetime 30m$`),
  deletetime: /^\/deletetime takes no arguments\. To change it: \/setdeletetime 30m$/,
  broadcastNoReply: new RegExp(`^${escapeRegExp(BROADCAST_USAGE)}$`),
  broadcastReply: new RegExp(`${DURATION_REFUSAL.source}\\n${escapeRegExp(BROADCAST_USAGE)}$`),
  tasks: /^\/tasks takes no arguments\. To run one job: \/run token-cleanup$/,
  run: new RegExp(`^(Usage: /run <job>\\.|“[^\\n]*” is not a job\\.) Jobs: ${JOBS.join(', ')}$`),
  stats: /^\/stats takes no arguments\.$/,
  schedule: new RegExp(
    `^(“[^\\n]*” is not a job\\. Jobs: ${JOBS.join(', ')}\\n${escapeRegExp(SCHEDULE_USAGE)}|A cron expression is missing; nothing changed\\.\\n[^\\n]+\\n${escapeRegExp(SCHEDULE_USAGE)}|❌ [^\\n]+\\nNothing changed\\.)$`,
  ),
  digest:
    /^“[^\n]*” is not a number of days from 7 to 90\.\nUsage: \/digest \[days\], days from 7 to 90 \(default 30\), e\.g\. \/digest 14$/,
  bypass: new RegExp(
    `^(“[^\\n]*” is not a (Telegram user id|number of days)\\. [^\\n]+\\n)?${escapeRegExp(BYPASS_USAGE)}$`,
  ),
  start:
    /^(This link is not valid \([^)]+\)\. Ask for a new link\.|This link does not lead to any content: it may have been removed\. Ask for a new link\.|This verification link is not valid\. Open the content link again to get a new one\.)$/,
};

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

// --- Deterministic generation --------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOLS = {
  operators: [
    '{"$gt":""}',
    '{"$where":"sleep(5000) || true"}',
    '{"$ne":null}',
    '{"$regex":".*"}',
    '{"$in":[1,2,3]}',
    '[{"$gt":0}]',
    '{"user_id":{"$exists":true}}',
    '{"$expr":{"$eq":[1,1]}}',
    '{"_id":{"$gt":""}}',
    "'; db.dropDatabase(); //",
    '$where',
    '$gt',
    'this.user_id == 1 || true',
  ],
  unicode: [
    '\u202Eevil\u202C',
    'مرحبا',
    'שלום עולם',
    '🔥',
    '👨‍👩‍👧‍👦',
    '\u200B',
    '\u200D',
    '\uFEFF',
    'e\u0301\u0301\u0301',
    'Z̴̡̛͙a̸l̷g̶o̵',
    '１０',
    '١٠',
    '²',
    '𝟏𝟎',
    'İ',
    '\u2028',
    '\u00A0',
    '日本語',
  ],
  numbers: [
    '-5',
    '-0',
    '1.5',
    '0.5',
    '1e3',
    '1e308',
    '0x10',
    '0b11',
    'NaN',
    'Infinity',
    '-Infinity',
    '9'.repeat(30),
    '4294967296',
    '9007199254740993',
    '+10',
    '10.0',
    '1,000',
    '1_000',
    '-1h',
    '10m-',
  ],
  words: [
    'null',
    'undefined',
    'true',
    'false',
    '[]',
    '{}',
    'abc',
    'ten',
    '10 minutes',
    '1d',
    '1w',
    '1s',
    '2hours',
    'tomorrow',
    '<b>10</b>',
    '%s%s%n',
    '../../etc/passwd',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, on purpose.
    '${7*7}',
    '{{7*7}}',
    '\\',
    '"',
    "'",
    '`',
    '__proto__',
    'constructor',
  ],
  spaces: [' ', '  ', '\t', '\n', '\r\n', '\u00A0'],
} as const;

type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

/** Cuts text to at most `max` UTF-16 units without splitting a surrogate pair. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut;
}

/** Random junk: a few pieces of the pools, sometimes repeated into a huge string. */
function junk(rng: Rng, maxLength: number): string {
  const kinds = [POOLS.operators, POOLS.unicode, POOLS.numbers, POOLS.words] as const;
  const parts: string[] = [];
  const count = 1 + Math.floor(rng() * 4);
  for (let i = 0; i < count; i++) {
    parts.push(pick(rng, pick(rng, kinds)));
    if (i < count - 1) parts.push(rng() < 0.6 ? '' : pick(rng, POOLS.spaces));
  }
  let text = parts.join('');
  if (rng() < 0.12) {
    // Huge, up to Telegram's message limit.
    const target = 200 + Math.floor(rng() * (maxLength - 200));
    text = text.repeat(Math.ceil(target / Math.max(1, text.length)));
  }
  return clip(text, maxLength);
}

/** Minutes a duration argument would mean, or undefined; README: 10, 10m, 2h, 1h30m (also "1h 30m"). */
function maybeDuration(input: string): 'maybe' | 'no' {
  // Anything made only of digits, h, m and spaces could be a valid duration: never generated as
  // "invalid" unless listed in OUT_OF_RANGE below.
  const text = input.trim();
  return /\d/.test(text) && /^[\dhm\s]+$/i.test(text) ? 'maybe' : 'no';
}
/** Durations outside 1 minute .. the safe maximum (below 48 hours), written in the accepted syntax. */
const OUT_OF_RANGE = [
  '0',
  '48h',
  '2880',
  '0m',
  '0h',
  '0h0m',
  '00',
  '2881',
  '2881m',
  '48h1m',
  '49h',
  '9999h',
  '999999',
  '1000000',
];

function isDurationCandidateInvalid(arg: string): boolean {
  return maybeDuration(arg) === 'no' || OUT_OF_RANGE.includes(arg.trim().toLowerCase());
}

/** /bypass <user_id> [days]: a positive whole user id, optional whole days 1..365. */
function isValidBypass(arg: string): boolean {
  const text = arg.trim();
  const tokens = text === '' ? [] : text.split(/\s+/);
  if (tokens.length < 1 || tokens.length > 2) return false;
  const [user, days] = tokens as [string, string | undefined];
  if (!/^\d{1,16}$/.test(user) || !Number.isSafeInteger(Number(user)) || Number(user) === 0) return false;
  return days === undefined || (/^\d{1,4}$/.test(days) && Number(days) >= 1 && Number(days) <= 365);
}

interface MessageInput {
  kind: 'message';
  from: FakeUser;
  text: string;
  replyToSource: boolean;
  expected: RegExp;
}
interface CallbackInput {
  kind: 'callback';
  from: FakeUser;
  data: string;
  expected: string;
}
type BadInput = MessageInput | CallbackInput;

const JOB_ACTION = new RegExp(`^task:(run|pause|resume):(${JOBS.join('|')})$`);

function adminCallbackAnswer(data: string): string {
  if (/^task:(run|pause|resume):[a-z-]{1,40}$/.test(data)) return 'Unknown job.';
  if (data.startsWith('task:')) return 'Unknown action.';
  return 'This button no longer works.';
}

function fitBytes(text: string, maxBytes: number): string {
  let out = '';
  for (const char of text) {
    if (Buffer.byteLength(out + char) > maxBytes) break;
    out += char;
  }
  return out;
}

/** Several hundred invalid inputs, each with the refusal it must get. */
function generateInputs(seed: number): BadInput[] {
  const rng = mulberry32(seed);
  const inputs: BadInput[] = [];
  const message = (command: string, arg: string, expected: RegExp, replyToSource = false, from = ADMIN) => {
    const text = arg === '' ? `/${command}` : `/${command} ${clip(arg, MAX_TEXT - command.length - 2)}`;
    inputs.push({ kind: 'message', from, text, replyToSource, expected });
  };
  const straddle = `${'A'.repeat(39)}🔥 tail`;
  const argFor = () => junk(rng, MAX_TEXT - 20);

  // /save: with arguments, or not as a reply.
  for (const arg of ['', 'now', '{"$gt":""}', straddle]) message('save', arg, REFUSALS.save);
  for (let i = 0; i < 40; i++) {
    const arg = argFor();
    const asReply = rng() < 0.5 && arg.trim() !== '';
    message('save', arg, REFUSALS.save, asReply);
  }

  // /setdeletetime and /broadcast (as a reply and not): durations that are not durations, or out of range.
  const durationEdges = [
    '',
    '   ',
    '-5',
    '1.5h',
    '10s',
    '1d',
    '1h30',
    'h',
    'm',
    '10\u200B',
    '１０',
    ...OUT_OF_RANGE,
    straddle,
  ];
  for (const arg of durationEdges) message('setdeletetime', arg, REFUSALS.setdeletetime);
  for (const arg of durationEdges) message('broadcast', arg, REFUSALS.broadcastReply, true);
  for (let i = 0; i < 40; i++) {
    const arg = rng() < 0.25 ? pick(rng, OUT_OF_RANGE) : argFor();
    if (!isDurationCandidateInvalid(arg)) continue;
    message('setdeletetime', arg, REFUSALS.setdeletetime);
  }
  for (let i = 0; i < 40; i++) {
    const arg = rng() < 0.25 ? pick(rng, OUT_OF_RANGE) : argFor();
    if (rng() < 0.4) {
      message('broadcast', arg, REFUSALS.broadcastNoReply);
    } else if (isDurationCandidateInvalid(arg)) {
      message('broadcast', arg, REFUSALS.broadcastReply, true);
    }
  }

  // Commands that take no arguments.
  for (const [command, expected] of [
    ['deletetime', REFUSALS.deletetime],
    ['tasks', REFUSALS.tasks],
    ['stats', REFUSALS.stats],
  ] as const) {
    for (const arg of ['x', '{"$where":"1"}', '\u200B', straddle]) message(command, arg, expected);
    for (let i = 0; i < 35; i++) {
      const arg = argFor();
      if (arg.trim() === '') continue;
      message(command, arg, expected);
    }
  }

  // /run <job>: no job, an unknown one, or extra words.
  const runEdges = [
    '',
    'Token-Cleanup',
    'token_cleanup',
    'token-cleanup extra',
    ' message-deleter  now',
    '__proto__',
    'constructor',
    straddle,
    `${'A'.repeat(39)}🔥`,
    'x'.repeat(4000),
  ];
  for (const arg of runEdges) message('run', arg, REFUSALS.run);
  for (let i = 0; i < 40; i++) {
    const arg = rng() < 0.3 ? `${pick(rng, JOBS)}${pick(rng, POOLS.spaces)}${argFor()}` : argFor();
    const tokens = arg.trim() === '' ? [] : arg.trim().split(/\s+/);
    if (tokens.length === 1 && JOBS.includes(tokens[0]!)) continue;
    message('run', arg, REFUSALS.run);
  }

  // /schedule <job> <cron expression…> | default: an unknown job, no expression, or not one that
  // both timers accept (a deleter's also one that leaves room for what it deletes).
  const [someJob] = JOBS as [string];
  const scheduleEdges = [
    'nope 0 5 * * *',
    'Token-Cleanup 0 5 * * *',
    '__proto__ default',
    someJob,
    `${someJob} 61 * * * *`,
    `${someJob} * * *`,
    `${someJob} * * * * * * *`,
    `${someJob} 0 0 1 * 1`,
    `${someJob} defaults`,
    `${someJob} {"$ne":null}`,
    `${someJob} ${'1 '.repeat(100)}`,
    `${someJob} ${straddle}`,
    `${someJob}\u200B 0 5 * * *`,
    `${deleterOf('content').name} 0 0 1 * *`,
    `${deleterOf('broadcasts').name} 0 0 1 1 *`,
    straddle,
    'x'.repeat(4000),
  ];
  for (const arg of scheduleEdges) message('schedule', arg, REFUSALS.schedule);
  for (let i = 0; i < 40; i++) {
    const arg = rng() < 0.5 ? `${pick(rng, JOBS)}${pick(rng, POOLS.spaces)}${argFor()}` : argFor();
    const [first = '', ...rest] = arg.trim().split(/\s+/);
    const expression = rest.join(' ');
    if (first === '') continue;
    if (JOBS.includes(first) && (expression.toLowerCase() === 'default' || !checkCronExpression(expression)))
      continue;
    message('schedule', arg, REFUSALS.schedule);
  }

  // /bypass <user_id> [days].
  const bypassEdges = [
    '',
    'abc',
    '0',
    '-1',
    '1.5',
    '12345678901234567',
    '9007199254740993',
    '123 0',
    '123 366',
    '123 -7',
    '123 1.5',
    '123 7 extra',
    '{"$gt":""}',
    '123 {"$gt":0}',
    '١٢٣',
    '123\u200B',
    straddle,
    `1 ${straddle}`,
  ];
  for (const arg of bypassEdges) message('bypass', arg, REFUSALS.bypass);
  for (let i = 0; i < 45; i++) {
    const roll = rng();
    const arg =
      roll < 0.3
        ? `${Math.floor(rng() * 1e9)} ${pick(rng, [...POOLS.numbers, ...POOLS.words, '0', '366', '99999'])}`
        : roll < 0.5
          ? `${pick(rng, POOLS.numbers)} ${Math.floor(rng() * 30)}`
          : argFor();
    if (isValidBypass(arg)) continue;
    message('bypass', arg, REFUSALS.bypass);
  }

  // /digest [days]: 7 to 90 whole days, or nothing.
  const digestEdges = [
    '0',
    '6',
    '91',
    '-7',
    '7.5',
    '1e1',
    'abc',
    '30 5',
    '30 x',
    '０３０',
    '٣٠',
    '30\u200B',
    straddle,
  ];
  for (const arg of digestEdges) message('digest', arg, REFUSALS.digest);
  for (let i = 0; i < 30; i++) {
    const arg =
      rng() < 0.4 ? `${Math.floor(rng() * 200) - 50}${rng() < 0.3 ? ` ${argFor()}` : ''}` : argFor();
    const tokens = arg.trim() === '' ? [] : arg.trim().split(/\s+/);
    const valid =
      tokens.length === 0 ||
      (tokens.length === 1 &&
        /^\d{1,3}$/.test(tokens[0]!) &&
        Number(tokens[0]) >= 7 &&
        Number(tokens[0]) <= 90);
    if (valid) continue;
    message('digest', arg, REFUSALS.digest);
  }

  // Deep links a user opens: /start <payload>.
  const idChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  const id = (length: number) => Array.from({ length }, () => pick(rng, [...idChars])).join('');
  const payloadEdges = [
    'c_',
    'v_',
    'c_short',
    `c_${'a'.repeat(41)}`,
    `v_${'A'.repeat(41)}`,
    'c_$gt',
    'v_{"$ne":null}',
    'C_abcdefgh',
    'x'.repeat(65),
    'c_abcdefgh',
    'v_abcdefghijkl',
    'c___proto__',
    '{"$gt":""}',
    '🔥',
    'c_../../etc',
    straddle,
  ];
  for (const payload of payloadEdges) message('start', payload, REFUSALS.start, false, USER);
  for (let i = 0; i < 60; i++) {
    const roll = rng();
    const payload =
      roll < 0.25
        ? `${pick(rng, ['c_', 'v_'])}${id(8 + Math.floor(rng() * 33))}`
        : roll < 0.4
          ? `${pick(rng, ['c_', 'v_', 'x_', ''])}${id(1 + Math.floor(rng() * 80))}`
          : argFor();
    if (payload.trim() === '') continue;
    message('start', payload, REFUSALS.start, false, USER);
  }

  // Callback data nobody's button carries (at most 64 bytes, as Telegram allows).
  const callbackEdges = [
    'task:run:nope',
    'task:run:',
    'task:',
    'task:pause:Token-Cleanup',
    'task:resume:token-cleanup ',
    'task:delete:token-cleanup',
    'task:run:token-cleanup:extra',
    'task:run:__proto__',
    'task:run:-',
    'TASK:run:token-cleanup',
    '{"$gt":""}',
    '🔥'.repeat(16),
    'x'.repeat(64),
  ];
  const callback = (from: FakeUser, raw: string) => {
    const data = fitBytes(raw, MAX_CALLBACK_BYTES);
    if (data === '' || JOB_ACTION.test(data)) return;
    const expected =
      from.id === ADMIN.id
        ? adminCallbackAnswer(data)
        : data.startsWith('task:')
          ? 'Admins only.'
          : 'This button no longer works.';
    inputs.push({ kind: 'callback', from, data, expected });
  };
  for (const data of callbackEdges) {
    callback(ADMIN, data);
    callback(USER, data);
  }
  for (let i = 0; i < 70; i++) {
    const roll = rng();
    const raw =
      roll < 0.3
        ? `task:${pick(rng, ['run', 'pause', 'resume', 'stop', 'RUN', ''])}:${pick(rng, [...JOBS, ...POOLS.words, ...POOLS.unicode, id(5)])}`
        : roll < 0.45
          ? `task:${junk(rng, 60)}`
          : junk(rng, 64);
    callback(rng() < 0.6 ? ADMIN : USER, raw);
  }
  return inputs;
}

// --- Checks -----------------------------------------------------------------------------------

/**
 * Every document of every collection, in a canonical text form; except the polling lease, whose
 * expiry moves forward on its own while the bot runs.
 */
async function snapshot(db: Db): Promise<Record<string, string[]>> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray())
    .map((c) => c.name)
    .filter((name) => name !== LEASES_COLLECTION)
    .sort();
  const result: Record<string, string[]> = {};
  for (const name of names) {
    const docs = await db.collection(name).find().toArray();
    result[name] = docs.map((doc) => BSON.EJSON.stringify(doc, { relaxed: false })).sort();
  }
  return result;
}

/** A lone surrogate cannot be encoded in UTF-8: Telegram refuses such a text. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const show = (text: string) =>
  JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…(${text.length})` : text);

describe('bad input: admin command arguments, deep-link payloads and callback data', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let t: TestApp;

  beforeAll(async () => {
    // Hundreds of inputs from one user: the per-user limit (#12) would rightly slow them down.
    t = await startTestApp(db(), fake, { ADMIN_IDS: String(ADMIN.id), USER_RATE_LIMIT_PER_MINUTE: '0' });
  });
  afterAll(async () => {
    await t.stop();
  });

  /** grammY polls again only after handling what it got: an empty queue with a poll waiting (as TestUser). */
  const handled = () =>
    waitFor(() => fake.pendingUpdateCount() === 0 && fake.isLongPolling(), {
      message: 'the bot handling the update',
    });
  const lastId = (chatId: number) => fake.chat(chatId).messages.at(-1)?.message_id ?? 0;
  const botMessagesAfter = (chatId: number, id: number) =>
    fake.chat(chatId).messages.filter((message) => message.message_id > id && message.from?.is_bot);

  it('several hundred generated invalid inputs: no crash, no database change, exactly one specific refusal each', async () => {
    // Must hold, for every generated input (all invalid by construction: valid ones are filtered
    // out): the bot answers exactly once, with the refusal specific to that command (for callback
    // data: exactly one answerCallbackQuery with the specific text, and no message); the answer is
    // text Telegram accepts (no lone surrogate); no handler fails (no `update handler failed`, no
    // error lines); not one document of any collection changes; and the bot keeps answering.
    const inputs = generateInputs(SEED);
    expect(inputs.length).toBeGreaterThanOrEqual(400);

    // Both users are registered, and the admin has a message to reply to.
    const users = { [ADMIN.id]: new TestUser(fake, ADMIN), [USER.id]: new TestUser(fake, USER) };
    expect(await users[ADMIN.id]!.say('/start')).toHaveLength(1);
    expect(await users[USER.id]!.say('/start')).toHaveLength(1);
    expect(await users[ADMIN.id]!.say('A message to reply to')).toEqual([]);
    const source = users[ADMIN.id]!.visibleMessages().at(-1)!;
    const buttonHost = {
      [ADMIN.id]: fake.lastBotMessage(ADMIN.id)!.message_id,
      [USER.id]: fake.lastBotMessage(USER.id)!.message_id,
    };
    const before = await snapshot(db().db);
    const logsBefore = t.logs.records().length;

    const refusalProblems: string[] = [];
    const unsendable: string[] = [];
    for (const [index, input] of inputs.entries()) {
      const chatId = input.from.id;
      if (input.kind === 'message') {
        const replies = (
          await users[chatId]!.say(input.text, input.replyToSource ? { replyTo: source.message_id } : {})
        ).map((message) => message.text ?? '');
        const label = `#${index} ${input.replyToSource ? '(reply) ' : ''}${show(input.text)}`;
        if (replies.length !== 1 || !input.expected.test(replies[0]!)) {
          refusalProblems.push(`${label} -> ${JSON.stringify(replies)}`);
        }
        for (const reply of replies)
          if (LONE_SURROGATE.test(reply)) unsendable.push(`${label} -> ${show(reply)}`);
      } else {
        const after = lastId(chatId);
        const queryId = fake.pressButton({
          from: input.from,
          messageId: buttonHost[chatId]!,
          data: input.data,
          forged: true,
        });
        await handled();
        const label = `#${index} button ${show(input.data)} by ${chatId === ADMIN.id ? 'admin' : 'user'}`;
        const answers = fake.calls.filter(
          (call) => call.method === 'answerCallbackQuery' && call.params.callback_query_id === queryId,
        );
        const answer = fake.callbackQueries().find((query) => query.id === queryId)?.answer;
        const messages = botMessagesAfter(chatId, after);
        if (
          answers.length !== 1 ||
          !answers[0]!.ok ||
          answer?.text !== input.expected ||
          messages.length > 0
        ) {
          refusalProblems.push(
            `${label} -> ${answers.length} answer(s) ${JSON.stringify(answer?.text)}, ${messages.length} message(s)`,
          );
        }
      }
    }

    const errors = t.logs
      .records()
      .slice(logsBefore)
      .filter((record) => record.level === 'error' || record.level === 'fatal')
      .map((record) => `${record.msg}: ${JSON.stringify(record.err ?? '').slice(0, 200)}`);
    const after = await snapshot(db().db);
    // The audit trail records refused admin actions by design; it may only have grown by refusals.
    const audited = (after[AUDIT_COLLECTION] ?? []).filter(
      (doc) => !(before[AUDIT_COLLECTION] ?? []).includes(doc),
    );
    const changed = Object.keys({ ...before, ...after }).filter(
      (name) =>
        name !== AUDIT_COLLECTION && JSON.stringify(before[name] ?? []) !== JSON.stringify(after[name] ?? []),
    );
    expect
      .soft(
        audited.filter((doc) => !doc.includes('"outcome":"refused"')),
        'audit entries other than refusals',
      )
      .toEqual([]);
    console.log(
      `[faults] bad input: ${inputs.length} inputs (${inputs.filter((i) => i.kind === 'message').length} messages, ` +
        `${inputs.filter((i) => i.kind === 'callback').length} callback data), ${refusalProblems.length} without one specific refusal, ` +
        `${unsendable.length} answered with text Telegram would refuse, ${errors.length} error line(s), collections changed: ${JSON.stringify(changed)}`,
    );

    expect.soft(errors, 'error lines (update handler failed, ...)').toEqual([]);
    expect.soft(changed, 'collections changed by invalid input').toEqual([]);
    expect.soft(refusalProblems, 'inputs without exactly one specific refusal').toEqual([]);
    expect.soft(unsendable, 'refusals with a lone surrogate (Telegram answers 400: not UTF-8)').toEqual([]);

    // Still answering normally.
    expect(
      (await users[ADMIN.id]!.say('/deletetime')).map((message) => message.text?.split('\n')[0]),
    ).toEqual(['Content is deleted 30 minutes after it is delivered.']);
    expect((await users[USER.id]!.say('/start')).map((message) => message.text)).toEqual([
      expect.stringMatching(/^Hello, Eve!/),
    ]);
  });
});
