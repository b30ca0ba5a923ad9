import { InputFile } from 'grammy';
import { buildDigest, DIGEST_DAYS } from '../../bot/digest/digest.js';
import { describeTelegramError } from '../../bot/telegram/errors.js';
import { forGrammy } from '../../bot/telegram/signal.js';
import type { JobDeps, RunInput } from './deps.js';

export interface DigestResult extends Record<string, number> {
  /** Admins the digest photo reached. */
  sent: number;
  /** Admins it could not be sent to (each logged). */
  failed: number;
  /** Days in the chart. */
  days: number;
}

/**
 * Sends every admin one photo: the chart of the last 30 days with yesterday's figures in the
 * caption. A failed send to one admin is logged and counted and the others still get theirs; the
 * run fails only when nobody got it, so the runtime retries it and the alerts see it.
 */
export async function sendDigest(deps: JobDeps, input: RunInput): Promise<DigestResult> {
  const days = DIGEST_DAYS.default;
  const digest = await buildDigest(deps.repos, { timezone: deps.timezone, now: input.now, days });
  const result: DigestResult = { sent: 0, failed: 0, days };
  if (input.dryRun || deps.adminIds.length === 0) return result;
  await input.confirmClaim();
  // Uploaded once: the admins after the first get the file_id Telegram gave it.
  let uploaded: string | undefined;
  for (const adminId of deps.adminIds) {
    if (input.signal.aborted) break;
    try {
      const message = await deps.api.sendPhoto(
        adminId,
        uploaded ?? new InputFile(digest.png, `digest-${digest.to}.png`),
        { caption: digest.caption },
        forGrammy(input.signal),
      );
      uploaded ??= message.photo.at(-1)?.file_id;
      result.sent += 1;
    } catch (error) {
      if (input.signal.aborted) break;
      result.failed += 1;
      input.logger.warn(
        { adminId, answer: describeTelegramError(error) },
        'the digest could not be sent to an admin',
      );
    }
  }
  if (result.sent === 0 && result.failed > 0) {
    throw new Error(`the digest reached none of the ${result.failed} admins`);
  }
  input.logger.info(
    { sent: result.sent, failed: result.failed, from: digest.from, to: digest.to },
    'digest sent',
  );
  return result;
}
