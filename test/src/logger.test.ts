import { describe, expect, it } from 'vitest';
import { createLogger, memoryDestination } from '../../src/logger.js';
import { createRedactor, maskUri } from '../../src/redact.js';

const TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';

describe('logger', () => {
  it('writes JSON lines with the level, message and child fields', () => {
    const sink = memoryDestination();
    const logger = createLogger({ level: 'info', format: 'json', destination: sink });
    logger.child({ component: 'scheduler' }).info({ job: 'token-cleanup' }, 'run finished');
    logger.debug('not at this level');
    expect(sink.records()).toEqual([
      expect.objectContaining({
        level: 'info',
        component: 'scheduler',
        job: 'token-cleanup',
        msg: 'run finished',
      }),
    ]);
  });

  it('never prints the bot token, even inside a Bot API URL in a nested error', () => {
    const sink = memoryDestination();
    const logger = createLogger({ level: 'info', format: 'json', destination: sink, secrets: [TOKEN] });
    const cause = new Error(
      `request to https://api.telegram.org/bot${TOKEN}/getMe failed, reason: ECONNRESET`,
    );
    const error = new Error("Network request for 'getMe' failed!", { cause });
    logger.error(
      { err: error, url: `https://api.telegram.org/bot${encodeURIComponent(TOKEN)}/x` },
      'call failed',
    );
    const output = sink.lines.join('');
    expect(output).toContain('getMe');
    expect(output).toContain('[REDACTED]');
    expect(output).not.toContain('AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw');
  });

  it('masks tokens it was not told about when they look like bot tokens', () => {
    const redact = createRedactor();
    expect(redact('GET /bot987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsXX/getMe')).toBe(
      'GET /bot[REDACTED]/getMe',
    );
  });

  it('masks passwords in MongoDB URIs', () => {
    const sink = memoryDestination();
    const uri = 'mongodb://admin:s3cr3t-pass@db.example:27017/bot';
    const logger = createLogger({ level: 'info', format: 'json', destination: sink, secrets: [uri] });
    logger.warn(`cannot reach mongodb://admin:other-pass@db.example:27017`);
    expect(sink.lines.join('')).not.toMatch(/other-pass|s3cr3t/);
    expect(maskUri(uri)).toBe('mongodb://admin:[REDACTED]@db.example:27017/bot');
    expect(maskUri('mongodb://db.example:27017')).toBe('mongodb://db.example:27017');
  });
});
