import { describe, expect, inject, it } from 'vitest';
import { connectDatabase } from '../../db/client.js';
import { parseConfig } from '../../src/config.js';
import { openDatabase } from '../../src/database.js';
import { captureLogs } from '../support/logs.js';

const TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';

/** The suite's server, with settings a careless connection string could carry. */
function uriAsking(query: string): string {
  const uri = inject('mongoUri');
  return `${uri}${uri.includes('?') ? '&' : uri.endsWith('/') ? '?' : '/?'}${query}`;
}

describe('coordination settings on replica sets (#13 item 1)', () => {
  it('reads from the primary and writes with w majority whatever the URI asks for', async () => {
    const database = await connectDatabase({
      uri: uriAsking('readPreference=secondaryPreferred&w=1'),
      dbName: 't_pinning',
    });
    try {
      // The client follows the URI; the bot's database and collections do not.
      expect(database.client.readPreference.mode).toBe('secondaryPreferred');
      for (const collection of [
        database.collections.users,
        database.collections.runs,
        database.collections.leases,
      ]) {
        expect(collection.readPreference?.mode).toBe('primary');
        expect(collection.writeConcern?.w).toBe('majority');
        expect(collection.readConcern?.level).toBe('majority');
      }
      expect(database.overridden).toEqual([
        { setting: 'readPreference', requested: 'secondaryPreferred', used: 'primary' },
        { setting: 'w', requested: '1', used: 'majority' },
      ]);
    } finally {
      await database.close();
    }
  });

  it('keeps wtimeoutMS from the URI and overrides nothing when the URI asks for nothing', async () => {
    const database = await connectDatabase({ uri: uriAsking('wtimeoutMS=2500'), dbName: 't_pinning' });
    try {
      expect(database.collections.users.writeConcern).toMatchObject({ w: 'majority', wtimeoutMS: 2500 });
      expect(database.overridden).toEqual([]);
    } finally {
      await database.close();
    }
  });

  it('logs one line at start naming what was overridden, without the connection string', async () => {
    const uri = uriAsking('readPreference=secondary&w=1&readConcernLevel=local');
    const parsed = parseConfig({ BOT_TOKEN: TOKEN, MONGODB_URI: uri, MONGODB_DB: 't_pinning_start' });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const { logger, records } = captureLogs();
    const opened = await openDatabase(parsed.config, logger);
    try {
      const lines = records().filter((record) => String(record.msg).startsWith('MONGODB_URI asks for'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'warn',
        msg: 'MONGODB_URI asks for readPreference=secondary, w=1, readConcernLevel=local; the bot reads and writes its own collections with readPreference=primary, w=majority and readConcern majority instead',
        overridden: {
          readPreference: { requested: 'secondary', used: 'primary' },
          w: { requested: '1', used: 'majority' },
          readConcernLevel: { requested: 'local', used: 'majority' },
        },
      });
      expect(JSON.stringify(lines[0])).not.toContain('mongodb://');
      // The start-up line reports the index reconciliation.
      expect(records()).toContainEqual(
        expect.objectContaining({
          msg: 'connected to MongoDB; indexes reconciled',
          indexes: expect.any(Object),
        }),
      );
    } finally {
      await opened.database.db.dropDatabase();
      await opened.close();
    }
  });
});
