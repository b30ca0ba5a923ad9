import { runApp } from './app.js';
import { loadConfig } from './config.js';
import { StartupError } from './database.js';
import { createLogger } from './logger.js';
import { createRedactor } from './redact.js';

const loaded = loadConfig();
if (!loaded.ok) {
  for (const problem of loaded.problems) console.error(`Configuration error: ${problem}`);
  process.exit(1);
}
const { config } = loaded;
const secrets = [config.botToken, config.mongodb.uri];
const logger = createLogger({
  level: config.log.level,
  format: config.log.format,
  production: config.env === 'production',
  secrets,
});

try {
  await runApp(config, logger);
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
