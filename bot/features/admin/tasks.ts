import { Composer, InlineKeyboard } from 'grammy';
import type { BotContext, BotDeps } from '../../context.js';
import type { JobOverview, RunReport } from '../../job-control.js';
import { auditAdminAction } from '../../services/admin-audit.js';
import { describeTelegramError } from '../../telegram/errors.js';
import { args, quote } from '../../validation.js';
import type { AdminFeature } from './feature.js';

const ACTION = /^task:(run|pause|resume):([a-z-]{1,40})$/;

/** /tasks (with run, pause and resume buttons) and /run <job>. */
export const tasksFeature: AdminFeature = {
  commands: [
    { command: 'tasks', description: 'Scheduled jobs: state, last and next run, controls' },
    { command: 'run', description: 'Run a job now, e.g. /run token-cleanup' },
  ],
  callbacks: /^task:/,
  create: (deps) => tasksComposer(deps),
};

function tasksComposer(deps: BotDeps): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const { jobs: runtime } = deps;
  const jobList = () => runtime.jobNames.join(', ');

  composer.command('tasks', async (ctx) => {
    if (args(ctx.match).length > 0) {
      await ctx.reply('/tasks takes no arguments. To run one job: /run token-cleanup');
      return;
    }
    const stats = await runtime.stats();
    await ctx.reply(renderTasks(stats, runtime.isStarted), { reply_markup: keyboard(stats) });
  });

  composer.command('run', async (ctx) => {
    const [name, ...extra] = args(ctx.match);
    if (name === undefined || extra.length > 0) {
      await ctx.reply(`Usage: /run <job>. Jobs: ${jobList()}`);
      return;
    }
    if (!runtime.jobNames.includes(name)) {
      await ctx.reply(`${quote(name)} is not a job. Jobs: ${jobList()}`);
      return;
    }
    await ctx.reply(`▶ Running ${name}…`);
    runInBackground(ctx, deps, name);
  });

  composer.callbackQuery(ACTION, async (ctx) => {
    const [, action, name] = ACTION.exec(ctx.callbackQuery.data) ?? [];
    if (!action || !name || !runtime.jobNames.includes(name)) {
      await ctx.answerCallbackQuery({ text: 'Unknown job.' });
      return;
    }
    const by = `admin:${ctx.from.id}`;
    if (action === 'run') {
      await ctx.answerCallbackQuery({ text: `Running ${name}…` });
      runInBackground(ctx, deps, name);
      return;
    }
    if (action === 'pause') await runtime.pause(name, by);
    else await runtime.resume(name, by);
    await auditAdminAction({ audit: deps.repos.audit, logger: ctx.log, now: ctx.now }, ctx.from.id, {
      action: 'job.update',
      target: name,
      details: { paused: action === 'pause' },
      outcome: 'done',
    });
    await ctx.answerCallbackQuery({ text: `${name} ${action === 'pause' ? 'paused' : 'resumed'}.` });
    const stats = await runtime.stats();
    await ctx
      .editMessageText(renderTasks(stats, runtime.isStarted), { reply_markup: keyboard(stats) })
      .catch((error: unknown) =>
        ctx.log.debug({ answer: describeTelegramError(error) }, '/tasks message not refreshed'),
      );
  });

  composer.callbackQuery(/^task:/, (ctx) => ctx.answerCallbackQuery({ text: 'Unknown action.' }));
  return composer;
}

/** A job can run for long; the answer comes as a new message when it ends, the bot stays responsive. */
function runInBackground(ctx: BotContext, deps: BotDeps, name: string): void {
  const chatId = ctx.chat?.id;
  if (chatId === undefined) return;
  const requestedBy = `admin:${ctx.from?.id}`;
  void auditAdminAction({ audit: deps.repos.audit, logger: ctx.log, now: ctx.now }, ctx.from?.id, {
    action: 'job.run',
    target: name,
    outcome: 'done',
  });
  deps.jobs
    .runNow(name, { requestedBy })
    .then((outcome) => ctx.api.sendMessage(chatId, describeOutcome(outcome)))
    .catch((error: unknown) => {
      ctx.log.error({ err: error, job: name }, 'manual run could not be started');
      return ctx.api.sendMessage(
        chatId,
        `${name} could not be started: ${error instanceof Error ? error.message : error}`,
      );
    })
    .catch((error: unknown) => ctx.log.warn({ err: error }, 'could not report a manual run'));
}

export function describeOutcome(outcome: RunReport): string {
  const counts = Object.entries(outcome.result ?? {})
    .map(([key, value]) => `${key} ${value}`)
    .join(', ');
  switch (outcome.status) {
    case 'succeeded':
      return `✅ ${outcome.job} succeeded in ${outcome.durationMs} ms${counts ? `: ${counts}` : ''}.`;
    case 'skipped':
      return `⏭ ${outcome.job} skipped: ${outcome.reason ?? 'it is already running'}.`;
    case 'abandoned':
      return `⏹ ${outcome.job} stopped before finishing${counts ? ` (${counts})` : ''}; the next run continues.`;
    default:
      return `❌ ${outcome.job} failed after ${outcome.attempts} attempt(s): ${outcome.error}`;
  }
}

function renderTasks(stats: JobOverview[], started: boolean): string {
  const lines = [started ? '🗓 Scheduled jobs' : '🗓 Scheduled jobs (schedulers are off on this instance)'];
  for (const job of stats) {
    lines.push('', `${job.name}: ${job.scheduleText}`);
    if (job.scheduleOverride) {
      const by = job.scheduleOverride.changedBy ? ` by ${job.scheduleOverride.changedBy}` : '';
      lines.push(`  schedule: ${job.schedule}, set at run time${by}; default ${job.defaultSchedule}`);
    }
    const state = job.paused ? 'paused' : job.running ? `running on ${job.running.instance}` : 'idle';
    lines.push(`  state: ${state}`);
    if (job.lastRun) {
      const counts = Object.entries(job.lastRun.result ?? {})
        .map(([key, value]) => `${key} ${value}`)
        .join(', ');
      lines.push(
        `  last: ${job.lastRun.status} at ${job.lastRun.startedAt.toISOString()}${job.lastRun.durationMs === null ? '' : ` (${job.lastRun.durationMs} ms)`}${counts ? `, ${counts}` : ''}${job.lastRun.error ? `, ${job.lastRun.error}` : ''}`,
      );
    } else {
      lines.push('  last: never');
    }
    if (job.nextRun && !job.paused) lines.push(`  next: ${job.nextRun.toISOString()}`);
    lines.push(
      `  history: ${job.counts.succeeded} ok, ${job.counts.failed} failed, ${job.counts.skipped} skipped`,
    );
  }
  return lines.join('\n');
}

function keyboard(stats: JobOverview[]): InlineKeyboard {
  const markup = new InlineKeyboard();
  for (const job of stats) {
    markup
      .text(`▶ ${job.name}`, `task:run:${job.name}`)
      .text(job.paused ? '▶ Resume' : '⏸ Pause', `task:${job.paused ? 'resume' : 'pause'}:${job.name}`)
      .row();
  }
  return markup;
}
