import { Composer, InputFile } from 'grammy';
import type { BotContext, BotDeps } from '../../context.js';
import { buildDigest, DIGEST_DAYS } from '../../digest/digest.js';
import { args, quote } from '../../validation.js';
import type { AdminFeature } from './feature.js';

const USAGE = `Usage: /digest [days], days from ${DIGEST_DAYS.min} to ${DIGEST_DAYS.max} (default ${DIGEST_DAYS.default}), e.g. /digest 14`;

/** /digest [days]: the daily digest's chart and figures, to the asking admin only. */
export const digestFeature: AdminFeature = {
  commands: [
    { command: 'digest', description: 'Chart of the last days and yesterday’s figures: /digest [days]' },
  ],
  create: (deps) => digestComposer(deps),
};

/** The number of days asked for, or why it is not one. */
export function parseDigestDays(
  match: string | undefined,
): { ok: true; days: number } | { ok: false; message: string } {
  const [raw, ...extra] = args(match);
  if (raw === undefined) return { ok: true, days: DIGEST_DAYS.default };
  const days = /^\d{1,3}$/.test(raw) ? Number(raw) : Number.NaN;
  if (extra.length > 0 || !(days >= DIGEST_DAYS.min && days <= DIGEST_DAYS.max)) {
    const what = extra.length > 0 ? quote((match ?? '').trim()) : quote(raw);
    return {
      ok: false,
      message: `${what} is not a number of days from ${DIGEST_DAYS.min} to ${DIGEST_DAYS.max}.\n${USAGE}`,
    };
  }
  return { ok: true, days };
}

function digestComposer(deps: BotDeps): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.command('digest', async (ctx) => {
    const parsed = parseDigestDays(ctx.match);
    if (!parsed.ok) {
      await ctx.reply(parsed.message);
      return;
    }
    const digest = await buildDigest(deps.repos, {
      timezone: deps.timezone,
      now: ctx.now,
      days: parsed.days,
    });
    await ctx.replyWithPhoto(new InputFile(digest.png, `digest-${digest.to}.png`), {
      caption: digest.caption,
    });
    ctx.log.info({ days: parsed.days, from: digest.from, to: digest.to }, 'digest sent on request');
  });
  return composer;
}
