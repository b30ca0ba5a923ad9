import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { localDate } from '../../db/calendar.js';
import type { TokenDoc } from '../../db/collections.js';
import type { Repositories } from '../../db/repositories/index.js';
import type { VerifyOutcome } from '../../db/repositories/tokens.js';
import { verifyLink } from '../links.js';
import { countDaily, type StatsTarget } from './daily-stats.js';

export interface AccessOptions {
  repos: Repositories;
  timezone: string;
  expiryDays: number;
  dailyLimit: number;
  verifyLinkTemplate: string | undefined;
  /** Where a failed statistics write is reported. */
  logger?: Pick<Logger, 'warn'>;
}

export type IssueOutcome =
  | { kind: 'issued'; link: string; expiresAt: Date; usedToday: number; limit: number }
  | { kind: 'limit_reached'; limit: number };

const DAY_MS = 86_400_000;

/**
 * Verification tokens: who may open content. A user without access gets a single-use token
 * (random, 128 bits, bound to that user); opening its link verifies it and grants access until
 * it expires. Admins can grant access directly (status `bypassed`).
 */
export class AccessService {
  constructor(private readonly options: AccessOptions) {}

  /** The grant that lasts longest, if the user has one now. */
  currentAccess(userId: number, now: Date): Promise<TokenDoc | null> {
    return this.options.repos.tokens.findValidAccess(userId, now);
  }

  /** A new token and its link, within the user's daily allowance. */
  async issue(userId: number, now: Date, botUsername: string, contentId?: string): Promise<IssueOutcome> {
    const { repos, dailyLimit } = this.options;
    const taken = await repos.tokenCounts.takeOne(userId, localDate(now, this.options.timezone), dailyLimit);
    if (!taken.allowed) return { kind: 'limit_reached', limit: dailyLimit };
    const token = randomBytes(16).toString('base64url');
    const expiresAt = new Date(now.getTime() + this.options.expiryDays * DAY_MS);
    await repos.tokens.insertUnused({
      token,
      userId,
      now,
      expiresAt,
      ...(contentId === undefined ? {} : { contentId }),
    });
    await countDaily(this.statsTarget, now, { counts: { links_issued: 1 } });
    return {
      kind: 'issued',
      link: this.wrap(verifyLink(botUsername, token)),
      expiresAt,
      usedToday: taken.count,
      limit: dailyLimit,
    };
  }

  async verify(
    token: string,
    userId: number,
    now: Date,
  ): Promise<{ outcome: VerifyOutcome; doc?: TokenDoc }> {
    const result = await this.options.repos.tokens.verify(token, userId, now);
    if (result.outcome === 'verified')
      await countDaily(this.statsTarget, now, { counts: { links_verified: 1 } });
    return result;
  }

  async bypass(userId: number, adminId: number, now: Date, days = this.options.expiryDays): Promise<Date> {
    const expiresAt = new Date(now.getTime() + days * DAY_MS);
    await this.options.repos.tokens.grantBypass({
      token: randomBytes(16).toString('base64url'),
      userId,
      adminId,
      now,
      expiresAt,
    });
    await countDaily(this.statsTarget, now, { counts: { bypasses: 1 } });
    return expiresAt;
  }

  private get statsTarget(): StatsTarget {
    const { repos, timezone, logger } = this.options;
    return { stats: repos.stats, timezone, logger };
  }

  private wrap(link: string): string {
    const template = this.options.verifyLinkTemplate;
    return template ? template.replaceAll('{url}', encodeURIComponent(link)) : link;
  }
}
