/**
 * npm run bench [-- --quick] [--rps N] [--out FILE] [--only idle,message-deleter,...|interactive]
 *     [--users N] [--baseline-users N]
 *
 * Each scenario is seeded into a fresh database, then run once by our job and once by a baseline
 * written the seed's way, each in its own process (bench/runner.ts), against the fake Bot API in
 * yet another process with Telegram-like rate limits on (it answers 429 above them). The database
 * is MongoDB at MONGODB_URI when set, else the project's emulator in its own process. Prints a
 * table and writes the figures as JSON.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { INTERACTIVE_IDS, type InteractiveFigures, runInteractive } from './interactive/scenarios.js';
import { control, ROOT, startFake, startService, stopService, TSX } from './processes.js';
import { formatReport, type RunFigures, type ScenarioFigures } from './report.js';
import { type Scenario, type SeedContext, scenarios } from './scenarios.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rps: { type: 'string', default: '1000' },
    out: { type: 'string' },
    only: { type: 'string' },
    'baseline-users': { type: 'string' },
    users: { type: 'string', default: '1000' },
  },
});
const quick = values.quick === true;
const rps = Number(values.rps);
if (!Number.isInteger(rps) || rps < 1) throw new Error('--rps must be a positive whole number');
const users = Number(values.users);
const baselineUsers = Number(values['baseline-users'] ?? (quick ? 100 : 1000));
for (const [flag, value] of [
  ['--users', users],
  ['--baseline-users', baselineUsers],
] as const) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} must be a positive whole number`);
}
const only = values.only?.split(',');
/** `--only interactive` selects every many-users scenario. */
const interactiveSelected = INTERACTIVE_IDS.filter(
  (id) => !only || only.includes(id) || only.includes('interactive'),
);
const onlyInteractive =
  only !== undefined && scenarios(quick).every((scenario) => !only.includes(scenario.id));
const out = resolve(
  values.out ??
    join(ROOT, 'bench/results', onlyInteractive ? 'interactive.json' : quick ? 'quick.json' : 'full.json'),
);

function runRunner(
  impl: 'ours' | 'baseline',
  job: string,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, unknown>> {
  const child = spawn(TSX, [join(ROOT, 'bench/runner.ts'), impl, job], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  return new Promise((resolvePromise, reject) => {
    child.once('exit', (code) => {
      const last = stdout.trim().split('\n').at(-1);
      if (code !== 0 || !last) return reject(new Error(`${impl} ${job} runner exited with ${code}`));
      resolvePromise(JSON.parse(last) as Record<string, unknown>);
    });
  });
}

async function runScenario(
  scenario: Scenario,
  impl: 'ours' | 'baseline',
  mongoUri: string,
): Promise<RunFigures> {
  const maxRps = scenario.rps ?? rps;
  // A fresh fake per run: its chats and statistics belong to this run only.
  const fake = await startFake(maxRps, false);
  const { apiRoot, controlUrl, token } = fake;
  const dbName = `bench_${scenario.id}_${impl}`.replace(/[^A-Za-z0-9_]/g, '_');
  const client = new MongoClient(mongoUri);
  try {
    await client.connect();
    const db = client.db(dbName);
    await db.dropDatabase();
    const ctx: SeedContext = { db, seedChats: (body) => control(controlUrl, '/seed', body), now: new Date() };
    await scenario.seed(ctx);

    const report = await runRunner(impl, scenario.job, {
      ...process.env,
      BOT_TOKEN: token,
      TELEGRAM_API_ROOT: apiRoot,
      MONGODB_URI: mongoUri,
      MONGODB_DB: dbName,
      TELEGRAM_MAX_RPS: String(maxRps),
      TELEGRAM_PER_CHAT_RPS: '1',
      LOG_LEVEL: 'warn',
      BENCH_CONTROL_URL: controlUrl,
      NODE_ENV: 'production',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc`.trim(),
    });
    const stats = await control(controlUrl, '/stats');
    const check = await scenario.check(ctx, stats);
    return {
      impl,
      wallSeconds: (report.wallMs as number) / 1000,
      botApiCalls: stats.totalCalls as number,
      callsByMethod: stats.callsByMethod as Record<string, number>,
      dbRoundTrips: report.dbRoundTrips as number,
      maxRps,
      callsPerSecond: achievedRate(stats),
      shareOfMaxRps: achievedRate(stats) / maxRps,
      answers429: stats.count429 as number,
      peakRssMb: report.peakRssMb as number,
      peakHeapMb: report.peakHeapMb as number,
      liveHeapMb: report.liveHeapMb as number,
      result: (report.result ?? {}) as Record<string, number>,
      check,
    };
  } finally {
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
    await stopService(fake.child);
  }
}

/** Calls per second between the first and the last call of the run, as the fake counted them. */
function achievedRate(stats: Record<string, unknown>): number {
  return (stats.averageCallsPerSecond as number | undefined) ?? 0;
}

async function main(): Promise<void> {
  const started = Date.now();
  let emulator: ChildProcess | undefined;
  let mongoUri = process.env.MONGODB_URI;
  if (!mongoUri) {
    const service = await startService('test/support/mongo-emulator/cli.ts', ['--port', '0']);
    emulator = service.child;
    mongoUri = service.line.trim();
  }
  const figures: ScenarioFigures[] = [];
  let interactive: InteractiveFigures[] = [];
  try {
    const selected = scenarios(quick).filter((scenario) => !only || only.includes(scenario.id));
    for (const scenario of selected) {
      process.stderr.write(`bench: ${scenario.title}\n`);
      const baseline = await runScenario(scenario, 'baseline', mongoUri);
      const ours = await runScenario(scenario, 'ours', mongoUri);
      figures.push({ id: scenario.id, title: scenario.title, job: scenario.job, baseline, ours });
    }
    interactive = await runInteractive(
      {
        mongoUri,
        maxRps: rps,
        users,
        baselineUsers,
        recipients: users,
        log: (line) => process.stderr.write(`${line}\n`),
      },
      interactiveSelected,
    );
  } finally {
    if (emulator) await stopService(emulator);
  }
  const document = {
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.replace(/ -- $/, ''),
    date: new Date().toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memoryGb: Math.round(os.totalmem() / 1024 ** 3),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      database: emulator ? 'project MongoDB emulator (separate process)' : 'MONGODB_URI',
    },
    settings: {
      telegramMaxRps: rps,
      fakeGlobalRpsFactor: 1.2,
      fakePerChatRps: 1,
      quick,
      users,
      baselineUsers,
    },
    scenarios: figures,
    interactive,
  };
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(document, null, 2)}\n`);
  console.log(formatReport(document));
  console.log(`\nFigures written to ${out}`);
}

await main();
