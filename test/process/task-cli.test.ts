import { beforeEach, describe, expect, it } from 'vitest';
import { JOB_NAMES } from '../../schedulers/jobs/catalog.js';
import { PROJECT_ROOT, type ProcessResult, runScript } from '../support/processes.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';

const lastLine = (result: ProcessResult) => JSON.parse(result.stdout.trim().split('\n').at(-1) ?? 'null');

describe('npm run task (one-shot command line)', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');

  beforeEach(async () => {
    await db().collections.pendingDeletions.deleteMany({});
    await db().db.collection('scheduler_runs').deleteMany({});
    fake.resetCalls();
    fake.clearFaults();
  });

  const env = () => ({
    BOT_TOKEN: fake.token,
    TELEGRAM_API_ROOT: fake.apiRoot,
    MONGODB_URI: db().uri,
    MONGODB_DB: db().dbName,
    TELEGRAM_MAX_RPS: '500',
  });
  const task = (...args: string[]) => runScript('src/task-cli.ts', args, { env: env() });

  async function seedDue(chats: number[], perChat = 1) {
    for (const chatId of chats) {
      fake.addChat(chatId, { user: { id: chatId, first_name: `U${chatId}` } });
      for (let i = 0; i < perChat; i++) {
        const messageIds = fake.seedMessages(chatId, 2);
        await db().collections.pendingDeletions.insertOne({
          user_id: chatId,
          chat_id: chatId,
          message_ids: messageIds,
          delete_at: new Date(Date.now() - 60_000),
          content_id: `content${chatId}x${i}`,
          created_at: new Date(),
        });
      }
    }
  }

  it('deletes, notifies and prints the outcome as its last stdout line', async () => {
    await seedDue([41, 42, 43]);
    const result = await task('message-deleter');
    expect(result.code).toBe(0);
    expect(lastLine(result)).toMatchObject({
      job: 'message-deleter',
      status: 'succeeded',
      result: { records: 3, messagesDeleted: 6, notices: 3, failed: 0 },
    });
    for (const chatId of [41, 42, 43]) expect(fake.chat(chatId).deleted).toHaveLength(2);
    expect(await db().collections.pendingDeletions.countDocuments()).toBe(0);
    expect(await db().db.collection('scheduler_runs').findOne({ trigger: 'manual' })).toMatchObject({
      job: 'message-deleter',
      status: 'succeeded',
      requested_by: 'cli',
    });
    expect(result.stderr + result.stdout).not.toContain(fake.token);
  });

  it('changes nothing with --dry-run and reports what it would do', async () => {
    await seedDue([51, 52]);
    const result = await task('message-deleter', '--dry-run');
    expect(result.code).toBe(0);
    expect(lastLine(result)).toEqual({
      job: 'message-deleter',
      status: 'succeeded',
      dryRun: true,
      result: { records: 2, messagesDeleted: 4, notices: 2, failed: 0, deferred: 0 },
    });
    expect(fake.callCount('deleteMessages') + fake.callCount('sendMessage')).toBe(0);
    expect(await db().collections.pendingDeletions.countDocuments()).toBe(2);
    expect(await db().db.collection('scheduler_runs').countDocuments()).toBe(0);
  });

  it('sends every notice once when two copies start together', async () => {
    const chats = Array.from({ length: 12 }, (_, i) => 600 + i);
    await seedDue(chats, 2);
    // Slow deletions keep the first copy busy while the second one tries to claim the job.
    fake.setLatency('deleteMessages', 150);
    const [a, b] = await Promise.all([task('message-deleter'), task('message-deleter')]);
    fake.setLatency('deleteMessages', 0);

    expect([a.code, b.code]).toEqual([0, 0]);
    // Usually one is skipped because the other holds the job; should the first finish before the
    // second claims, the second finds nothing due. Either way, nothing is done twice.
    const outcomes = [lastLine(a), lastLine(b)];
    const records = outcomes.reduce((sum, outcome) => sum + (outcome.result.records ?? 0), 0);
    expect(records).toBe(24);
    expect(outcomes.every((outcome) => ['succeeded', 'skipped'].includes(outcome.status))).toBe(true);
    for (const chatId of chats) {
      const notices = fake.calls.filter(
        (call) => call.method === 'sendMessage' && call.params.chat_id === chatId,
      );
      expect(notices).toHaveLength(2);
    }
    expect(await db().collections.pendingDeletions.countDocuments()).toBe(0);
  });

  it('exits 1 and says so in the JSON line when the run fails', async () => {
    await seedDue([71]);
    // The notices need the bot's username; a Bot API that cannot answer getMe fails the run.
    fake.disableMethod('getMe');
    const result = await runScript('src/task-cli.ts', ['message-deleter'], {
      env: { ...env(), JOB_RETRY_ATTEMPTS: '2', JOB_RETRY_BASE_DELAY_MS: '0' },
    });
    fake.enableMethod('getMe');
    expect(result.code).toBe(1);
    expect(lastLine(result)).toMatchObject({
      job: 'message-deleter',
      status: 'failed',
      attempts: 2,
      error: expect.stringMatching(/404/),
    });
    expect(await db().collections.pendingDeletions.countDocuments()).toBe(1);
  });

  it('refuses bad configuration with one line per problem and exit 1', async () => {
    const result = await runScript('src/task-cli.ts', ['token-cleanup'], {
      env: { ...env(), MONGODB_DB: 'bad name' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/^Configuration error: MONGODB_DB must be a MongoDB database name/);
    expect(result.stdout).toBe('');
  });

  it('lists the valid jobs for an unknown name (through npm)', async () => {
    const result = await runNpmTask(['nope']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`unknown job "nope"; valid jobs are: ${JOB_NAMES.join(', ')}`);
  });
});

async function runNpmTask(args: string[]): Promise<ProcessResult> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', 'task', '--', ...args], { cwd: PROJECT_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
