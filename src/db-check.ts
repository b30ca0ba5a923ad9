import { connectDatabase, type Database } from '../db/client.js';
import { describeAction, describeDuplicate, planChanges, planIndexes } from '../db/index-reconciler.js';
import { CORE_INDEXES } from '../db/indexes.js';
import { databaseSettingsForTool } from './config.js';
import { createRedactor, maskUri } from './redact.js';

/**
 * What start-up would do to the database's indexes, without doing it:
 *
 *   npm run db:check
 *
 * Connects to MONGODB_URI / MONGODB_DB, makes the plan start-up makes (db/index-reconciler.ts)
 * and prints it, one line per declared or present index, then the duplicates that would stop the
 * start. Changes nothing. Exit 0 when start-up would succeed, 1 when it would stop (or the
 * database cannot be checked).
 */

async function main(): Promise<number> {
  const settings = databaseSettingsForTool('db:check checks the database a deployment uses; set MONGODB_URI');
  if (!settings) return 1;
  const redact = createRedactor([settings.uri]);

  let database: Database;
  try {
    database = await connectDatabase({ uri: settings.uri, dbName: settings.dbName, appName: 'db-check' });
  } catch (error) {
    console.error(redact(error instanceof Error ? error.message : String(error)));
    return 1;
  }
  try {
    const plan = await planIndexes(database.db, CORE_INDEXES);
    console.log(
      `database ${settings.dbName} at ${maskUri(settings.uri)}; index builds ${
        plan.commitQuorum
          ? "use commitQuorum 'majority' (replica set)"
          : 'run without commitQuorum (standalone)'
      }`,
    );
    for (const { setting, requested, used } of database.overridden) {
      console.log(
        `note     MONGODB_URI asks for ${setting}=${requested}; the bot uses ${used} for its collections`,
      );
    }
    for (const action of plan.actions) console.log(describeAction(action));
    for (const problem of plan.problems) console.log(`FAIL     ${describeDuplicate(problem)}`);
    const changes = planChanges(plan).length;
    if (plan.problems.length > 0) {
      console.log(`start-up would stop: ${plan.problems.length} unique index(es) blocked by duplicates`);
      return 1;
    }
    console.log(
      changes === 0
        ? 'start-up would change nothing'
        : `start-up would make ${changes} change(s); nothing was changed`,
    );
    return 0;
  } catch (error) {
    console.error(
      redact(`cannot check the indexes: ${error instanceof Error ? error.message : String(error)}`),
    );
    return 1;
  } finally {
    await database.close();
  }
}

process.exit(await main());
