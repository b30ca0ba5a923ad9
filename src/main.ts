import { runApp } from './app.js';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { createRedactor } from './redact.js';
import { StartupError } from './startup-error.js';

const loaded = loadConfig();
if (!loaded.ok) {
  for (const problem of loaded.problems) console.error(`Configuration error: ${problem}`);
  process.exit(1);
}
const { config } = loaded;
const secrets = [
  config.botToken,
  config.mongodb.uri,
  ...(config.updates.webhook ? [config.updates.webhook.secret] : []),
  config.dashboard?.adminToken,
  config.dashboard?.readonlyToken,
];
const logger = createLogger({
  level: config.log.level,
  format: config.log.format,
  production: config.env === 'production',
  secrets,
});

// SIGINT/SIGTERM become one abort. A stop often brings the signal twice (a terminal's Ctrl-C or
// systemd signal the whole process group, and npm passes it on as well): the repeats must not cut
// the orderly stop short, so they are only logged.
const shutdown = new AbortController();
const onSignal = (signal: NodeJS.Signals) => {
  if (shutdown.signal.aborted) {
    logger.info({ signal }, 'already stopping; the signal is ignored');
    return;
  }
  logger.info({ signal }, 'stop requested');
  shutdown.abort(signal);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

try {
  await runApp(config, logger, { signal: shutdown.signal });
  process.exit(0);
} catch (error) {
  if (error instanceof StartupError) {
    // An operator-fixable problem: one line, no stack.
    console.error(createRedactor(secrets)(error.message));
  } else {
    logger.fatal({ err: error }, 'the bot stopped because of an unexpected error');
  }
  process.exit(1);
}
