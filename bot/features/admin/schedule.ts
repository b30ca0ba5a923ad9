import { Composer } from 'grammy';
import type { BotContext, BotDeps } from '../../context.js';
import type { JobOverview } from '../../job-control.js';
import { auditAdminAction } from '../../services/admin-audit.js';
import { formatTime } from '../../services/content.js';
import { quote } from '../../validation.js';
import type { AdminFeature } from './feature.js';

const USAGE =
  'Usage: /schedule <job> <cron expression> (5 fields, or 6 with seconds first), e.g. /schedule backup 0 4 * * *\nBack to the schedule from the environment: /schedule <job> default';

/** /schedule <job> <cron expression…> | default: a job's schedule, changed while the bot runs. */
export const scheduleFeature: AdminFeature = {
  commands: [
    {
      command: 'schedule',
      description: 'Change a job’s schedule: /schedule <job> <cron> or /schedule <job> default',
    },
  ],
  create: (deps) => scheduleComposer(deps),
};

/** The job and the rest of the message (the expression, which has spaces of its own). */
export function parseScheduleArguments(match: string | undefined): { job?: string; expression: string } {
  const text = (match ?? '').trim();
  const [job] = text.split(/\s+/, 1);
  return job ? { job, expression: text.slice(job.length).trim() } : { expression: '' };
}

function scheduleComposer(deps: BotDeps): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const { jobs } = deps;

  composer.command('schedule', async (ctx) => {
    const { job, expression } = parseScheduleArguments(ctx.match);
    if (job === undefined) {
      await ctx.reply(`${USAGE}\n\n${listSchedules(await jobs.stats())}`);
      return;
    }
    if (!jobs.jobNames.includes(job)) {
      await ctx.reply(`${quote(job)} is not a job. Jobs: ${jobs.jobNames.join(', ')}\n${USAGE}`);
      return;
    }
    if (expression === '') {
      const current = (await jobs.stats()).find((entry) => entry.name === job);
      await ctx.reply(
        `A cron expression is missing; nothing changed.${current ? `\n${describeCurrent(current)}` : ''}\n${USAGE}`,
      );
      return;
    }
    const by = `admin:${ctx.from?.id}`;
    const back = expression.toLowerCase() === 'default';
    let change: Awaited<ReturnType<typeof jobs.setSchedule>>;
    try {
      change = await jobs.setSchedule(job, back ? null : expression, by);
    } catch (error) {
      ctx.log.error({ err: error, job }, 'schedule could not be changed');
      await ctx.reply('The schedule could not be saved (the database failed); nothing changed. Try again.');
      return;
    }
    const audit = { audit: deps.repos.audit, logger: ctx.log, now: ctx.now };
    const details = { schedule: back ? 'default' : expression };
    if (!change.ok) {
      await auditAdminAction(audit, ctx.from?.id, {
        action: 'job.update',
        target: job,
        details,
        outcome: 'refused',
        message: change.problem,
      });
      await ctx.reply(`❌ ${oneLine(change.problem)}\nNothing changed.`);
      return;
    }
    await auditAdminAction(audit, ctx.from?.id, {
      action: 'job.update',
      target: job,
      details,
      outcome: 'done',
    });
    const now = (await jobs.stats()).find((entry) => entry.name === job);
    const when = now?.nextRun
      ? `Next run: ${formatTime(now.nextRun, deps.timezone)}.`
      : 'This instance does not run the schedulers (SCHEDULERS_ENABLED=false).';
    const what = now ? `${now.scheduleText}, ${change.schedule}` : change.schedule;
    await ctx.reply(
      [
        change.isDefault
          ? `✅ ${job} is back on its schedule from the environment: ${what}.`
          : `✅ ${job} now runs ${what}.`,
        when,
        change.isDefault
          ? 'Every instance applies it within 10 seconds.'
          : `Every instance applies it within 10 seconds, and it stays after restarts until /schedule ${job} default.`,
      ].join('\n'),
    );
  });
  return composer;
}

/** One line per job: its schedule, and whether it was set while the bot runs. */
function listSchedules(stats: readonly JobOverview[]): string {
  return ['Jobs and their schedules:', ...stats.map(describeCurrent)].join('\n');
}

function describeCurrent(job: JobOverview): string {
  const origin = job.scheduleOverride ? ` (set at run time; default ${job.defaultSchedule})` : '';
  return `${job.name}: ${job.schedule}, ${job.scheduleText}${origin}`;
}

/** A problem echoes the expression typed: no line breaks or control characters in the reply. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}
