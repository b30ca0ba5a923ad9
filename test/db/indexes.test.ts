import { describe, expect, it } from 'vitest';
import { CORE_INDEXES, ensureIndexes } from '../../db/indexes.js';
import { useTestDatabase } from '../support/test-db.js';

describe('ensureIndexes', () => {
  const db = useTestDatabase({ indexes: false });

  it('creates every index behind the schedulers queries, and a second run changes nothing', async () => {
    await ensureIndexes(db().db);
    await ensureIndexes(db().db);
    for (const definition of CORE_INDEXES) {
      const indexes = await db().db.collection(definition.collection).listIndexes().toArray();
      const found = indexes.find((index) => index.name === definition.options.name);
      expect(found, `${definition.collection}.${definition.options.name}`).toBeDefined();
      expect(found?.key).toEqual(definition.key);
      expect(Boolean(found?.unique)).toBe(Boolean(definition.options.unique));
    }
    const tokenIndexes = await db().db.collection('tokens').listIndexes().toArray();
    expect(tokenIndexes.map((index) => index.name).sort()).toEqual([
      '_id_',
      'expires_at_status',
      'token_unique',
      'user_access',
    ]);
  });

  it('runs from several instances at once without failing', async () => {
    const others = await Promise.all([db().connectAnother(), db().connectAnother()]);
    await Promise.all(others.map((other) => ensureIndexes(other.db)));
  });

  it('enforces the unique token and the unique daily counter', async () => {
    const { tokens, tokenCounts } = db().collections;
    const now = new Date();
    await tokens.insertOne({ token: 'dup', user_id: 1, status: 'unused', created_at: now, expires_at: now });
    await expect(
      tokens.insertOne({ token: 'dup', user_id: 2, status: 'unused', created_at: now, expires_at: now }),
    ).rejects.toMatchObject({ code: 11000 });
    await tokenCounts.insertOne({ user_id: 1, date: '2026-01-01', count: 1 });
    await expect(tokenCounts.insertOne({ user_id: 1, date: '2026-01-01', count: 1 })).rejects.toMatchObject({
      code: 11000,
    });
  });
});
