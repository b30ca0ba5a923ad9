import { beforeEach, describe, expect, it } from 'vitest';
import { UpdateInboxRepository } from '../../db/repositories/update-inbox.js';
import { useTestDatabase } from '../support/test-db.js';

const LEASE = 60_000;
const update = (id: number) => ({ update_id: id, message: { text: `m${id}` } });

describe('update inbox', () => {
  const db = useTestDatabase();
  const inbox = () => new UpdateInboxRepository(db().collections.updateInbox);
  const doc = (id: number) => db().collections.updateInbox.findOne({ _id: id });

  beforeEach(async () => {
    await db().collections.updateInbox.deleteMany({});
  });

  it('records an update once, however many copies arrive at once', async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => inbox().record(update(1), '7')));
    expect(answers.filter(Boolean)).toHaveLength(1);
    expect(await inbox().record(update(1), '7')).toBe(false);
    expect(await doc(1)).toMatchObject({
      _id: 1,
      key: '7',
      state: 'pending',
      update: update(1),
      attempts: 0,
    });
    expect((await doc(1))?.expire_at.getTime()).toBeGreaterThan(Date.now() + 47 * 3_600_000);
  });

  it("claims a key's lowest pending update, and no second one of the key while one is handled", async () => {
    for (const id of [3, 1, 2]) await inbox().record(update(id), '7');
    await inbox().record(update(4), '8');
    const first = await inbox().claimNext('7', 'a', LEASE);
    expect(first).toMatchObject({ updateId: 1, key: '7', attempts: 1, update: update(1) });
    expect(await inbox().claimNext('7', 'b', LEASE)).toBeUndefined();
    expect(await inbox().claimNext('8', 'b', LEASE)).toMatchObject({ updateId: 4 });
    expect(await doc(2)).toMatchObject({ state: 'pending' });

    expect(await inbox().finish(1, 'b')).toBe(false);
    expect(await inbox().finish(1, 'a')).toBe(true);
    const done = await doc(1);
    expect(done).toMatchObject({ state: 'done' });
    expect(done).not.toHaveProperty('update');
    expect(done).not.toHaveProperty('owner');
    expect(await inbox().claimNext('7', 'b', LEASE)).toMatchObject({ updateId: 2 });
  });

  it('lists pending keys oldest first, renews and releases claims', async () => {
    await inbox().record(update(5), 'x');
    await inbox().record(update(6), 'y');
    await inbox().record(update(7), 'x');
    expect(await inbox().pendingKeys(10)).toEqual(['x', 'y']);
    await inbox().claimNext('x', 'a', LEASE);
    expect(await inbox().pendingKeys(10)).toEqual(['y', 'x']);
    expect(await inbox().renew([5, 6], 'a', LEASE)).toBe(1);
    await inbox().release([5], 'a');
    expect(await doc(5)).toMatchObject({ state: 'pending', attempts: 1 });
    expect(await doc(5)).not.toHaveProperty('owner');
  });

  it('lets another owner take over only once the lease has run out (server time)', async () => {
    await inbox().record(update(9), 'k');
    await inbox().claimNext('k', 'dead', LEASE);
    expect(await inbox().takeOverExpired('alive', LEASE)).toBeUndefined();
    await db().collections.updateInbox.updateOne({ _id: 9 }, [
      { $set: { lease_expires_at: { $subtract: ['$$NOW', 1] } } },
    ]);
    const taken = await inbox().takeOverExpired('alive', LEASE);
    expect(taken).toMatchObject({ updateId: 9, attempts: 2 });
    expect(await inbox().finish(9, 'dead')).toBe(false);
    expect(await inbox().finish(9, 'alive')).toBe(true);
  });

  it('begin: once per update for a polling receiver, busy while the key is in hand elsewhere', async () => {
    expect(await inbox().begin(update(20), '1', 'a', LEASE)).toBe('begun');
    expect(await inbox().begin(update(20), '1', 'b', LEASE)).toBe('duplicate');
    expect(await inbox().begin(update(21), '1', 'b', LEASE)).toBe('busy');
    expect(await doc(21)).toBeNull();
    expect(await inbox().finish(20, 'a')).toBe(true);
    expect(await inbox().begin(update(20), '1', 'b', LEASE)).toBe('duplicate');
    expect(await inbox().begin(update(21), '1', 'b', LEASE)).toBe('begun');
    const concurrent = await Promise.all(
      ['c', 'd', 'e'].map((owner) => inbox().begin(update(30), '3', owner, LEASE)),
    );
    expect(concurrent.filter((result) => result === 'begun')).toHaveLength(1);
  });
});
