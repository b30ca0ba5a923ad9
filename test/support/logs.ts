import { createLogger, type Logger, memoryDestination } from '../../src/logger.js';

export interface CapturedLogger {
  logger: Logger;
  records(): Array<Record<string, unknown> & { msg?: string; level?: string }>;
  messages(): string[];
}

/** A real pino logger whose JSON lines stay in memory, so tests can assert on them. */
export function captureLogs(secrets: string[] = []): CapturedLogger {
  const sink = memoryDestination();
  const logger = createLogger({ level: 'debug', format: 'json', destination: sink, secrets });
  return {
    logger,
    records: () => sink.records() as Array<Record<string, unknown> & { msg?: string; level?: string }>,
    messages: () => sink.records().map((record) => String(record.msg)),
  };
}
