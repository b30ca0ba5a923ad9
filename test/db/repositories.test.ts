import { ObjectId } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunDoc, TokenDoc } from '../../db/collections.js';
import { createRepositories } from '../../db/repositories/index.js';
import { useTestDatabase } from '../support/test-db.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);

describe('repositories through the official driver', () => {
  const db = useTestDatabase();
  const repos = () => createRepositories(db().collections);

  beforeEach(async () => {
    await Promise.all(Object.values(db().collections).map((collection) => collection.deleteMany({})));
  });

  describe('tokens', () => {
    const token = (token: string, status: TokenDoc['status'], expiresAt: Date, userId = 1): TokenDoc => ({
      token,
      user_id: userId,
      status,
      created_at: minutes(-3000),
      expires_at: expiresAt,
    });

    it('cleanup deletes only expired verified and bypassed tokens', async () => {
      await db().collections.tokens.insertMany([
        token('expired-verified', 'verified', minutes(-1)),
        token('expired-bypassed', 'bypassed', minutes(-60)),
        token('expired-unused', 'unused', minutes(-60)),
        token('valid-verified', 'verified', minutes(1)),
        token('expires-exactly-now', 'verified', NOW),
      ]);
      expect(await repos().tokens.countExpiredUsed(NOW)).toBe(2);
      expect(await repos().tokens.deleteExpiredUsed(NOW)).toBe(2);
      const left = await db().collections.tokens.find().sort({ token: 1 }).toArray();
      expect(left.map((doc) => doc.token)).toEqual([
        'expired-unused',
        'expires-exactly-now',
        'valid-verified',
      ]);
    });

    it('verifies a token once, for its own user, while it is valid', async () => {
      await db().collections.tokens.insertMany([
        token('mine', 'unused', minutes(10), 1),
        token('old', 'unused', minutes(-10), 1),
      ]);
      expect((await repos().tokens.verify('mine', 2, NOW)).outcome).toBe('other_user');
      expect((await repos().tokens.verify('nope', 1, NOW)).outcome).toBe('not_found');
      expect((await repos().tokens.verify('old', 1, NOW)).outcome).toBe('expired');
      expect((await repos().tokens.verify('mine', 1, NOW)).outcome).toBe('verified');
      expect((await repos().tokens.verify('mine', 1, NOW)).outcome).toBe('already_used');
      expect(await db().collections.tokens.findOne({ token: 'mine' })).toMatchObject({
        status: 'verified',
        verified_at: NOW,
      });
    });

    it('finds the longest valid access and ignores unused or expired grants', async () => {
      await db().collections.tokens.insertMany([
        token('a', 'unused', minutes(100), 5),
        token('b', 'verified', minutes(-1), 5),
        token('c', 'verified', minutes(30), 5),
        token('d', 'bypassed', minutes(60), 5),
      ]);
      expect((await repos().tokens.findValidAccess(5, NOW))?.token).toBe('d');
      expect(await repos().tokens.findValidAccess(6, NOW)).toBeNull();
      expect(await repos().tokens.countByStatus()).toEqual({ unused: 1, verified: 2, bypassed: 1 });
    });
  });

  describe('token counters', () => {
    it('allows exactly the daily limit, even under concurrent requests', async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, () => repos().tokenCounts.takeOne(7, '2026-03-10', 3)),
      );
      expect(outcomes.filter((outcome) => outcome.allowed)).toHaveLength(3);
      expect(await repos().tokenCounts.current(7, '2026-03-10')).toBe(3);
      expect(await repos().tokenCounts.takeOne(7, '2026-03-11', 3)).toEqual({ allowed: true, count: 1 });
    });

    it('reset drops counters of earlier days only', async () => {
      await db().collections.tokenCounts.insertMany([
        { user_id: 1, date: '2026-03-09', count: 3 },
        { user_id: 2, date: '2025-12-31', count: 1 },
        { user_id: 1, date: '2026-03-10', count: 2 },
      ]);
      expect(await repos().tokenCounts.countBefore('2026-03-10')).toBe(2);
      expect(await repos().tokenCounts.deleteBefore('2026-03-10')).toBe(2);
      expect(
        await db()
          .collections.tokenCounts.find({}, { projection: { _id: 0 } })
          .toArray(),
      ).toEqual([{ user_id: 1, date: '2026-03-10', count: 2 }]);
    });
  });

  describe('users', () => {
    it('registers, refreshes, blocks and unblocks', async () => {
      const users = repos().users;
      expect(await users.upsertFromTelegram({ id: 10, first_name: 'Ann' }, 10, minutes(-5))).toEqual({
        created: true,
      });
      expect(
        await users.upsertFromTelegram({ id: 10, first_name: 'Anne', username: 'anne' }, 10, NOW),
      ).toEqual({
        created: false,
      });
      await users.upsertFromTelegram({ id: 11, first_name: 'Bob' }, 11, NOW);
      expect(await users.findByUserId(10)).toMatchObject({
        first_name: 'Anne',
        username: 'anne',
        joined_at: minutes(-5),
        last_seen_at: NOW,
        blocked_at: null,
      });

      expect(await users.markBlockedByChat([11, 999], NOW)).toBe(1);
      expect(await users.markBlockedByChat([11], minutes(5))).toBe(0);
      expect((await users.findByUserId(11))?.blocked_at).toEqual(NOW);
      expect(await users.counts()).toEqual({ active: 1, blocked: 1 });
      expect((await users.reachableRecipients(10).toArray()).map((user) => user.chat_id)).toEqual([10]);

      await users.markUnblocked(11);
      expect(await users.counts()).toEqual({ active: 2, blocked: 0 });
    });
  });

  describe('pending deletions', () => {
    it('pages through due records oldest first, including those due exactly now', async () => {
      const base = {
        user_id: 1,
        chat_id: 1,
        message_ids: [1, 2],
        content_id: 'c1',
        created_at: minutes(-60),
      };
      await db().collections.pendingDeletions.insertMany([
        { ...base, delete_at: minutes(1) },
        { ...base, delete_at: NOW, content_id: 'now' },
        { ...base, delete_at: minutes(-30), content_id: 'old' },
      ]);
      const first = await repos().pendingDeletions.duePage(NOW, undefined, 1);
      const second = await repos().pendingDeletions.duePage(
        NOW,
        { at: first[0]!.delete_at, id: first[0]!._id },
        1,
      );
      const due = [...first, ...second];
      expect(due.map((doc) => doc.content_id)).toEqual(['old', 'now']);
      expect(
        await repos().pendingDeletions.duePage(NOW, { at: second[0]!.delete_at, id: second[0]!._id }, 1),
      ).toEqual([]);
      expect(await repos().pendingDeletions.countDue(NOW)).toBe(2);
      expect((await repos().pendingDeletions.oldestDue(NOW))?.content_id).toBe('old');

      await repos().pendingDeletions.recordAttempt([due[0]!._id], 'Internal Server Error');
      await repos().pendingDeletions.recordAttempt([due[0]!._id], 'Bad Gateway');
      expect(await db().collections.pendingDeletions.findOne({ _id: due[0]!._id })).toMatchObject({
        attempts: 2,
        last_error: 'Bad Gateway',
      });
      expect(await repos().pendingDeletions.removeByIds(due.map((doc) => doc._id))).toBe(2);
      expect(await repos().pendingDeletions.countDue(minutes(10))).toBe(1);
    });
  });

  describe('broadcasts', () => {
    it('pages through copies and removes the broadcast only when none is left', async () => {
      const broadcasts = repos().broadcasts;
      const id = await broadcasts.create({
        delete_at: minutes(-1),
        created_at: minutes(-120),
        created_by: 42,
        source_chat_id: 42,
        source_message_id: 3,
        status: 'sending',
        counts: { total: 5, delivered: 0, blocked: 0, failed: 0 },
        owner: 'me',
      });
      await broadcasts.recordDeliveries(
        id,
        [1, 2, 3, 4, 5].map((chat) => ({ chat_id: chat, message_id: chat * 10, sent_at: minutes(-100) })),
      );
      await broadcasts.addCounts(id, { delivered: 4, blocked: 1 });
      expect(await broadcasts.finish(id, 'someone-else', 'sent')).toBe(false);
      expect(await broadcasts.finish(id, 'me', 'sent')).toBe(true);
      expect(await broadcasts.findById(id)).toMatchObject({
        status: 'sent',
        finished_at: expect.any(Date),
        counts: { total: 5, delivered: 4, blocked: 1, failed: 0 },
      });
      expect((await broadcasts.expiredPage(NOW, undefined, 10)).map((doc) => doc._id)).toEqual([id]);
      expect(await broadcasts.countActive(NOW)).toBe(0);

      const first = await broadcasts.copiesPage(id, undefined, 2);
      const rest = await broadcasts.copiesPage(id, first.at(-1)?._id, 10);
      const copies = [...first, ...rest];
      expect(copies.map((copy) => copy.chat_id)).toEqual([1, 2, 3, 4, 5]);
      await broadcasts.removeCopies(copies.slice(0, 4).map((copy) => copy._id));
      expect(await broadcasts.removeIfNoCopiesLeft(id)).toBe(false);
      await broadcasts.removeCopies([copies[4]!._id]);
      expect(await broadcasts.removeIfNoCopiesLeft(id)).toBe(true);
      expect(await broadcasts.findById(id)).toBeNull();
      expect(await broadcasts.removeCopies([new ObjectId()])).toBe(0);
    });

    const sending = (createdAt: Date, owner = 'me') =>
      repos().broadcasts.create({
        delete_at: minutes(60),
        created_at: createdAt,
        created_by: 42,
        source_chat_id: 42,
        source_message_id: 3,
        status: 'sending',
        counts: { total: 5, delivered: 0, blocked: 0, failed: 0 },
        owner,
      });

    it('takes a cancel request only while sending, keeps the first one, and the heartbeat carries it', async () => {
      const broadcasts = repos().broadcasts;
      const id = await sending(minutes(-5));
      expect(await broadcasts.heartbeat(id, 'me')).toBe('ours');

      expect(await broadcasts.requestCancel(id, 'dashboard:admin-token', minutes(1))).toBe('requested');
      expect(await broadcasts.requestCancel(id, 'dashboard:someone-else', minutes(2))).toBe('requested');
      expect(await broadcasts.findById(id)).toMatchObject({
        status: 'sending',
        cancel_requested_at: minutes(1),
        cancel_requested_by: 'dashboard:admin-token',
      });
      expect(await broadcasts.heartbeat(id, 'me')).toBe('cancel-requested');
      expect(await broadcasts.heartbeat(id, 'someone-else')).toBe('lost');

      expect(await broadcasts.finish(id, 'me', 'cancelled')).toBe(true);
      expect(await broadcasts.findById(id)).toMatchObject({
        status: 'cancelled',
        finished_at: expect.any(Date),
      });
      expect(await broadcasts.heartbeat(id, 'me')).toBe('lost');

      const finished = await sending(minutes(-4));
      await broadcasts.finish(finished, 'me', 'sent');
      const before = await broadcasts.findById(finished);
      expect(await broadcasts.requestCancel(finished, 'dashboard:admin-token', minutes(1))).toBe(
        'not-sending',
      );
      expect(await broadcasts.findById(finished)).toEqual(before);
      expect(await broadcasts.requestCancel(id, 'dashboard:admin-token', minutes(3))).toBe('not-sending');
      expect(await broadcasts.requestCancel(new ObjectId(), 'dashboard:admin-token', minutes(1))).toBe(
        'not-found',
      );
    });

    it('lists broadcasts newest first, page by page, without their copies or sending details', async () => {
      const broadcasts = repos().broadcasts;
      // Two created in the same millisecond: the id orders them.
      const ids = [
        await sending(minutes(-30)),
        await sending(minutes(-20)),
        await sending(minutes(-20)),
        await sending(minutes(-10)),
      ];
      await broadcasts.requestCancel(ids[3]!, 'dashboard:admin-token', minutes(-1));
      await broadcasts.finish(ids[3]!, 'me', 'cancelled');

      const first = await broadcasts.recent(3);
      expect(first.map((doc) => doc._id)).toEqual([ids[3], ids[2], ids[1]]);
      expect(first[0]).toEqual({
        _id: ids[3],
        status: 'cancelled',
        counts: { total: 5, delivered: 0, blocked: 0, failed: 0 },
        delete_at: minutes(60),
        created_at: minutes(-10),
        created_by: 42,
        finished_at: expect.any(Date),
        cancel_requested_at: minutes(-1),
        cancel_requested_by: 'dashboard:admin-token',
      });
      const last = first.at(-1)!;
      const second = await broadcasts.recent(3, { at: last.created_at, id: last._id });
      expect(second.map((doc) => doc._id)).toEqual([ids[0]]);
      expect(await broadcasts.recent(3, { at: minutes(-30), id: ids[0]! })).toEqual([]);
      expect(() => broadcasts.recent(0)).toThrow(RangeError);
    });

    it('finds the longest lifetime among the stored broadcasts', async () => {
      const broadcasts = repos().broadcasts;
      expect(await broadcasts.longestLifetime()).toBeNull();
      const stored = (createdAt: Date, deleteAt: Date) =>
        broadcasts.create({
          delete_at: deleteAt,
          created_at: createdAt,
          created_by: 42,
          source_chat_id: 42,
          source_message_id: 3,
          status: 'sent',
          counts: { total: 0, delivered: 0, blocked: 0, failed: 0 },
        });
      await stored(minutes(-600), minutes(60));
      await stored(minutes(0), minutes(12 * 60));
      await stored(minutes(-30), minutes(-10));
      expect(await broadcasts.longestLifetime()).toEqual({
        lifetimeMs: 12 * 60 * 60_000,
        deleteAt: minutes(12 * 60),
      });
    });
  });

  describe('job controls', () => {
    it('stores and removes a run-time schedule without touching the pause switch, and reads every job at once', async () => {
      const controls = repos().jobControls;
      expect(await controls.all()).toEqual(new Map());
      await controls.setPaused('a', true, minutes(-10), 'admin:1');
      await controls.setSchedule('a', '*/5 * * * *', NOW, 'admin:2');
      await controls.setSchedule('b', '0 3 * * *', minutes(1));
      const all = await controls.all();
      expect(all.get('a')).toEqual({
        paused: true,
        schedule: { expression: '*/5 * * * *', changedAt: NOW, changedBy: 'admin:2' },
        scheduleChangedAt: NOW,
      });
      expect(all.get('b')).toEqual({
        paused: false,
        schedule: { expression: '0 3 * * *', changedAt: minutes(1), changedBy: null },
        scheduleChangedAt: minutes(1),
      });
      expect(await controls.isPaused('a')).toBe(true);

      await controls.setSchedule('a', null, minutes(2), 'admin:3');
      expect((await controls.all()).get('a')).toEqual({
        paused: true,
        schedule: null,
        scheduleChangedAt: minutes(2),
      });
      expect(await db().collections.jobControls.findOne({ _id: 'a' })).toEqual({
        _id: 'a',
        paused: true,
        changed_at: minutes(-10),
        changed_by: 'admin:1',
        schedule_changed_at: minutes(2),
        schedule_changed_by: 'admin:3',
      });
      // A later change without an author does not keep the previous one's.
      await controls.setSchedule('a', '0 * * * *', minutes(3));
      expect((await controls.all()).get('a')?.schedule?.changedBy).toBeNull();
    });

    it('passes a hand-edited schedule of another type on as text', async () => {
      await db().collections.jobControls.insertOne({ _id: 'c', schedule: 42 as never });
      expect((await repos().jobControls.all()).get('c')?.schedule?.expression).toBe('42');
    });
  });

  describe('run history', () => {
    it('counts succeeded and failed runs of one job started since a time', async () => {
      const run = (id: string, job: string, status: RunDoc['status'], startedAt: Date): RunDoc => ({
        _id: id,
        job,
        slot: null,
        trigger: 'manual',
        instance: 'i',
        status,
        started_at: startedAt,
        finished_at: startedAt,
        heartbeat_at: null,
        attempts: 1,
        result: null,
        error: null,
        expire_at: new Date('2100-01-01'),
      });
      await db().collections.runs.insertMany([
        run('1', 'x', 'succeeded', minutes(-60)),
        run('2', 'x', 'succeeded', minutes(-10)),
        run('3', 'x', 'failed', minutes(-5)),
        run('4', 'x', 'skipped', minutes(-5)),
        run('5', 'x', 'abandoned', minutes(-5)),
        run('6', 'y', 'failed', minutes(-5)),
        run('7', 'x', 'failed', minutes(-31)),
      ]);
      expect(await repos().runHistory.outcomesSince('x', minutes(-30))).toEqual({ succeeded: 1, failed: 1 });
      expect(await repos().runHistory.outcomesSince('y', minutes(-30))).toEqual({ succeeded: 0, failed: 1 });
      expect(await repos().runHistory.outcomesSince('z', minutes(-30))).toEqual({ succeeded: 0, failed: 0 });
    });
  });

  describe('settings', () => {
    it('stores a value and reads it back through a type guard', async () => {
      const isNumber = (value: unknown): value is number => typeof value === 'number';
      expect(await repos().settings.get('delete_after_minutes', isNumber)).toBeUndefined();
      await repos().settings.set('delete_after_minutes', 30, NOW, 42);
      expect(await repos().settings.get('delete_after_minutes', isNumber)).toBe(30);
      await repos().settings.set('delete_after_minutes', 'garbage', NOW);
      expect(await repos().settings.get('delete_after_minutes', isNumber)).toBeUndefined();
    });
  });
});
