import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';
import { createRedactor } from './redact.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LogLevel;
  /** `auto`: pretty on an interactive terminal outside production, JSON lines otherwise. */
  format: 'auto' | 'json' | 'pretty';
  production?: boolean;
  /** Values that must never be printed (bot token, database password, ...). */
  secrets?: ReadonlyArray<string | undefined>;
  /** Where lines go; defaults to stdout. Tests pass a collector. */
  destination?: { write(line: string): unknown };
  /** Static fields on every line (e.g. the instance id). */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  const redact = createRedactor(options.secrets);
  const usePretty =
    options.format === 'pretty' ||
    (options.format === 'auto' && !options.production && process.stdout.isTTY === true);

  const sink =
    options.destination ?? (usePretty ? pretty({ colorize: true, sync: true }) : pino.destination(1));
  // Redact the serialized line, so secrets inside nested error messages and stacks are caught too.
  const destination: DestinationStream = { write: (line: string) => void sink.write(redact(line)) };

  return pino(
    {
      level: options.level,
      base: { ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.errWithCause, error: pino.stdSerializers.errWithCause },
    },
    destination,
  );
}

/** Collects JSON log lines in memory; for tests that assert on what was logged. */
export function memoryDestination(): {
  write(line: string): void;
  lines: string[];
  records(): Record<string, unknown>[];
} {
  const lines: string[] = [];
  return {
    lines,
    write(line: string) {
      lines.push(line);
    },
    records() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
  };
}
