import { describe, expect, it } from 'vitest';
import { args, formatMinutes, parseDays, parseDuration, parseUserId, quote } from '../../bot/validation.js';

const bounds = { minMinutes: 1, maxMinutes: 48 * 60 };

describe('input parsers', () => {
  it('reads durations as minutes, hours, or both', () => {
    expect(parseDuration('10', bounds)).toEqual({ ok: true, value: 10 });
    expect(parseDuration('10m', bounds)).toEqual({ ok: true, value: 10 });
    expect(parseDuration('2h', bounds)).toEqual({ ok: true, value: 120 });
    expect(parseDuration(' 1h30m ', bounds)).toEqual({ ok: true, value: 90 });
    expect(parseDuration('1H 5M', bounds)).toEqual({ ok: true, value: 65 });
    expect(parseDuration('48h', bounds)).toEqual({ ok: true, value: 2880 });
  });

  it('refuses other durations with a reason and an example', () => {
    expect(parseDuration('', bounds)).toMatchObject({ ok: false, message: expect.stringMatching(/missing/) });
    expect(parseDuration('1.5h', bounds)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/not a duration/),
    });
    expect(parseDuration('h', bounds)).toMatchObject({ ok: false });
    expect(parseDuration('-5', bounds)).toMatchObject({ ok: false });
    expect(parseDuration('48h1m', bounds)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/between/),
    });
    expect(parseDuration('0m', bounds)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/between/),
    });
  });

  it('reads user ids and days strictly', () => {
    expect(parseUserId('123456789')).toEqual({ ok: true, value: 123456789 });
    for (const bad of ['0', '-1', '1e5', '12.5', '99999999999999999', ' ', 'abc']) {
      expect(parseUserId(bad).ok, bad).toBe(false);
    }
    expect(parseDays('7', 365)).toEqual({ ok: true, value: 7 });
    for (const bad of ['0', '366', '1.5', 'x']) expect(parseDays(bad, 365).ok, bad).toBe(false);
  });

  it('quotes input on one line, bounded, without splitting a character', () => {
    expect(quote('a\nb\tc')).toBe('“a b c”');
    const quoted = quote(`${'A'.repeat(39)}🔥🔥`);
    expect(quoted).toBe(`“${'A'.repeat(39)}🔥…”`);
    expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(quoted)).toBe(false);
  });

  it('splits arguments and words durations', () => {
    expect(args('  a  b ')).toEqual(['a', 'b']);
    expect(args(undefined)).toEqual([]);
    expect(formatMinutes(90)).toBe('1 hour 30 minutes');
    expect(formatMinutes(1)).toBe('1 minute');
    expect(formatMinutes(120)).toBe('2 hours');
  });
});
