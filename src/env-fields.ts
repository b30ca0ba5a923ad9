import { z } from 'zod';
import { checkCronExpression } from '../schedulers/cron-schedule.js';

/**
 * Parsers for environment variables: each turns a string (or nothing) into a typed value or one
 * line saying what is wrong with it. The settings themselves are in config.ts.
 */

/** `process.env` values are strings; blank ones (`FOO=` in .env) mean "not set". */
export const blankToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

export function text(hint: string) {
  return z.preprocess(
    blankToUndefined,
    z.string({ error: (issue) => (issue.input === undefined ? `is required (${hint})` : 'must be text') }),
  );
}

export function optionalText() {
  return z.preprocess(blankToUndefined, z.string().optional());
}

export function integer<F extends number | undefined>(opts: { min: number; max?: number; fallback: F }) {
  const range = opts.max === undefined ? `>= ${opts.min}` : `between ${opts.min} and ${opts.max}`;
  return z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .transform((raw, ctx): number | F => {
        if (raw === undefined) return opts.fallback;
        const value = Number(raw.trim());
        if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value)) {
          ctx.addIssue({ code: 'custom', message: `must be a whole number ${range}, got "${raw}"` });
          return z.NEVER;
        }
        if (value < opts.min || (opts.max !== undefined && value > opts.max)) {
          ctx.addIssue({ code: 'custom', message: `must be ${range}, got ${value}` });
          return z.NEVER;
        }
        return value;
      }),
  );
}

export function positiveNumber(fallback: number, max: number) {
  return z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .transform((raw, ctx) => {
        if (raw === undefined) return fallback;
        const value = Number(raw.trim());
        if (!Number.isFinite(value) || value <= 0 || value > max) {
          ctx.addIssue({
            code: 'custom',
            message: `must be a number above 0 and at most ${max}, got "${raw}"`,
          });
          return z.NEVER;
        }
        return value;
      }),
  );
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) {
  return z.preprocess(
    (raw) => {
      const value = blankToUndefined(raw);
      return typeof value === 'string' ? value.trim().toLowerCase() : value;
    },
    z
      .enum(values, { error: (issue) => `must be one of ${values.join(', ')}, got "${String(issue.input)}"` })
      .default(fallback as never),
  );
}

export const adminIds = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return [] as number[];
      const ids: number[] = [];
      for (const part of raw.split(',')) {
        const item = part.trim();
        if (item === '') continue;
        if (!/^\d{1,16}$/.test(item) || !Number.isSafeInteger(Number(item)) || Number(item) === 0) {
          ctx.addIssue({
            code: 'custom',
            message: `must be comma-separated Telegram user ids like "12345,67890"; "${item}" is not a user id`,
          });
          return z.NEVER;
        }
        ids.push(Number(item));
      }
      return [...new Set(ids)];
    }),
);

export const timeZone = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default('UTC')
    .superRefine((value, ctx) => {
      if (!isValidTimeZone(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be an IANA time zone such as UTC or Europe/Berlin, got "${value}"`,
        });
      }
    }),
);

export function cron(fallback: string) {
  return z.preprocess(
    blankToUndefined,
    z
      .string()
      .default(fallback)
      .transform((raw) => raw.trim().replace(/\s+/g, ' '))
      .superRefine((value, ctx) => {
        const problem = checkCronExpression(value);
        if (problem)
          ctx.addIssue({
            code: 'custom',
            message: `is not a valid cron expression ("${value}"): ${problem}`,
          });
      }),
  );
}

export function flag(fallback: boolean) {
  return z.preprocess(
    (raw) => {
      const value = blankToUndefined(raw);
      return typeof value === 'string' ? value.trim().toLowerCase() : value;
    },
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], {
        error: (issue) => `must be true or false, got "${String(issue.input)}"`,
      })
      .optional()
      .transform((value) => (value === undefined ? fallback : ['true', '1', 'yes'].includes(value))),
  );
}

export const mongoUri = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .refine((value) => value === undefined || /^mongodb(\+srv)?:\/\/\S+$/.test(value), {
      message: 'must start with mongodb:// or mongodb+srv://',
    }),
);

export const httpUrl = (fallback: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .default(fallback)
      .refine((value) => /^https?:\/\/[^\s/]+/.test(value) && URL.canParse(value), {
        message: 'must be an http(s) URL such as https://api.telegram.org',
      })
      .transform((value) => value.replace(/\/+$/, '')),
  );

/** Telegram posts updates only to https URLs on these ports (setWebhook refuses others). */
const WEBHOOK_PORTS = new Set(['', '443', '80', '88', '8443']);

export const webhookUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined) return;
      const url = URL.canParse(value) ? new URL(value) : undefined;
      if (url?.protocol !== 'https:' || url.hostname === '') {
        ctx.addIssue({
          code: 'custom',
          message: `must be the public https URL Telegram posts updates to, such as https://bot.example.com/telegram/webhook; got "${value}"`,
        });
      } else if (!WEBHOOK_PORTS.has(url.port)) {
        ctx.addIssue({
          code: 'custom',
          message: `must use port 443, 80, 88 or 8443 (the only ports Telegram posts to); got ${url.port}`,
        });
      } else if (url.search !== '' || url.hash !== '') {
        ctx.addIssue({
          code: 'custom',
          message: 'must not have a query or a fragment (the path alone is matched)',
        });
      }
    }),
);

export const webhookSecret = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .refine((value) => value === undefined || /^[A-Za-z0-9_-]{1,256}$/.test(value), {
      message: 'must be 1-256 characters of A-Z a-z 0-9 _ - (what Telegram allows as secret_token)',
    }),
);

export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** A dashboard token: long enough not to be guessed. The value itself is never echoed. */
export const dashboardToken = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined) return;
      if (/\s/.test(value)) {
        ctx.addIssue({ code: 'custom', message: 'must not contain spaces or line breaks' });
      } else if (value.length < 32) {
        ctx.addIssue({
          code: 'custom',
          message: `must be at least 32 characters (got ${value.length}); e.g. openssl rand -hex 32`,
        });
      }
    }),
);

/** Proxies whose X-Forwarded-For is believed: addresses or CIDR ranges, comma-separated. */
export const trustedProxies = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .refine(
      (value) =>
        value === undefined ||
        value
          .split(',')
          .map((part) => part.trim())
          .every((part) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(part)),
      { message: 'must be addresses or CIDR ranges separated by commas, e.g. 127.0.0.1,10.0.0.0/8' },
    ),
);
