import { MongoClient, ObjectId } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Broadcaster } from '../../bot/services/broadcaster.js';
import { getCollections } from '../../db/collections.js';
import { createRepositories, type Repositories } from '../../db/repositories/index.js';
import { deleteExpiredBroadcasts } from '../../schedulers/jobs/index.js';
import { type JobHarness, startJobHarness } from '../support/job-harness.js';
import { startMongoEmulator } from '../support/mongo-emulator/index.js';
import { useTestDatabase } from '../support/test-db.js';
import { waitFor } from '../support/wait.js';

const ADMIN = 50;

/** A broadcaster on the harness's bulk lane; the admin watches in chat ADMIN. */
function testBroadcaster(
  h: JobHarness,
  options: {
    leaseMs: number;
    clock: () => Date;
    instanceId: string;
    batchSize: number;
    concurrency: number;
    repos?: Repositories;
    /** Show flood waits in the progress message (the harness's gate). */
    gate?: boolean;
  },
): Broadcaster {
  return new Broadcaster({
    api: h.deps.api,
    ...(options.gate ? { gate: h.gate } : {}),
    repos: options.repos ?? h.deps.repos,
    logger: h.logs.logger,
    clock: options.clock,
    instanceId: options.instanceId,
    timezone: 'UTC',
    batchSize: options.batchSize,
    concurrency: options.concurrency,
    retry: { retries: 0, baseDelayMs: 1 },
    protectContent: true,
    leaseMs: options.leaseMs,
    progressIntervalMs: 0,
  });
}

/** What /broadcast asks for: a message of the admin's, to be deleted at `deleteAt`. */
function broadcastRequest(h: JobHarness, deleteAt: Date) {
  const [sourceMessageId] = h.fake.seedMessages(ADMIN, ['Big news'], {
    from: { id: ADMIN, first_name: 'Admin' },
  });
  return {
    adminId: ADMIN,
    adminChatId: ADMIN,
    sourceChatId: ADMIN,
    sourceMessageId: sourceMessageId!,
    deleteAt,
  };
}

describe('broadcaster', () => {
  const db = useTestDatabase();
  let h: JobHarness;
  let nowMs: number;

  beforeEach(async () => {
    await Promise.all(Object.values(db().collections).map((collection) => collection.deleteMany({})));
    h = await startJobHarness(db());
    nowMs = Date.now();
    h.fake.addChat(ADMIN, { user: { id: ADMIN, first_name: 'Admin' } });
    for (let id = 1; id <= 30; id++) {
      h.fake.addChat(1000 + id, { user: { id: 1000 + id, first_name: `U${id}` } });
      await h.deps.repos.users.upsertFromTelegram(
        { id: 1000 + id, first_name: `U${id}` },
        1000 + id,
        new Date(nowMs),
      );
    }
  });
  afterEach(() => h.close());

  const broadcaster = (leaseMs = 60_000) =>
    testBroadcaster(h, {
      leaseMs,
      clock: () => new Date(nowMs),
      instanceId: 'test',
      batchSize: 5,
      concurrency: 2,
    });
  const request = (deleteInMs = 3_600_000) => broadcastRequest(h, new Date(nowMs + deleteInMs));

  it('reports a broadcast cut short by a stop with its counts, and keeps what was delivered for deletion', async () => {
    h.fake.setLatency('copyMessage', 20);
    const sender = broadcaster();
    const { broadcastId, total } = await sender.start(request());
    expect(total).toBe(30);
    await waitFor(async () => (await db().collections.broadcastMessages.countDocuments()) >= 5);
    await sender.stop(5_000);

    const broadcast = await db().collections.broadcasts.findOne({ _id: broadcastId });
    expect(broadcast?.status).toBe('interrupted');
    const delivered = broadcast?.counts.delivered ?? 0;
    expect(delivered).toBeGreaterThanOrEqual(5);
    expect(delivered).toBeLessThan(30);
    expect(await db().collections.broadcastMessages.countDocuments({ broadcast_id: broadcastId })).toBe(
      delivered,
    );
    expect(h.fake.callCount('copyMessage')).toBe(delivered);
    expect(h.fake.lastBotMessage(ADMIN)?.text).toBe(
      [
        '📣 Broadcast interrupted: the bot stopped or restarted while sending.',
        `Delivered ${delivered}, blocked 0, failed 0 (of 30 users); the rest were not sent.`,
        `The delivered copies will still be deleted at ${new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(new Date(nowMs + 3_600_000))} UTC.`,
      ].join('\n'),
    );
  });

  it('after a crash, exactly one instance reports the broadcast whose sender stopped beating', async () => {
    // Heartbeats are the database server's time: the dead sender's last one was five minutes ago.
    const { insertedId: id } = await db().collections.broadcasts.insertOne({
      delete_at: new Date(nowMs + 3_600_000),
      created_at: new Date(nowMs - 600_000),
      created_by: ADMIN,
      source_chat_id: ADMIN,
      source_message_id: 1,
      status: 'sending',
      counts: { total: 30, delivered: 12, blocked: 1, failed: 0 },
      progress_chat_id: ADMIN,
      owner: 'killed-instance',
      heartbeat_at: new Date(Date.now() - 5 * 60_000),
    });
    const { insertedId: fresh } = await db().collections.broadcasts.insertOne({
      delete_at: new Date(nowMs + 3_600_000),
      created_at: new Date(nowMs),
      created_by: ADMIN,
      source_chat_id: ADMIN,
      source_message_id: 1,
      status: 'sending',
      counts: { total: 30, delivered: 3, blocked: 0, failed: 0 },
      owner: 'alive-instance',
      heartbeat_at: new Date(Date.now() - 1_000),
    });

    const recovered = await Promise.all([broadcaster().sweepInterrupted(), broadcaster().sweepInterrupted()]);
    expect(recovered.sort()).toEqual([0, 1]);
    expect(await db().collections.broadcasts.findOne({ _id: id })).toMatchObject({ status: 'interrupted' });
    expect(await db().collections.broadcasts.findOne({ _id: fresh })).toMatchObject({ status: 'sending' });
    const reports = h.fake
      .chat(ADMIN)
      .messages.filter((message) => message.text?.startsWith('📣 Broadcast interrupted'));
    expect(reports).toHaveLength(1);
    expect(reports[0]?.text).toContain('Delivered 12, blocked 1, failed 0 (of 30 users)');
  });

  it('its own sweep leaves a broadcast it is sending alone, however stale its heartbeat looks after a database outage', async () => {
    h.fake.setLatency('copyMessage', 20);
    const sender = broadcaster();
    const { broadcastId } = await sender.start(request());
    await waitFor(async () => (await db().collections.broadcastMessages.countDocuments()) >= 3);
    // What a database outage longer than the lease leaves: heartbeats that did not get through.
    await db().collections.broadcasts.updateOne(
      { _id: broadcastId },
      { $set: { heartbeat_at: new Date(Date.now() - 5 * 60_000) } },
    );
    expect(await sender.sweepInterrupted()).toBe(0);
    expect(await db().collections.broadcasts.findOne({ _id: broadcastId })).toMatchObject({
      status: 'sending',
    });
    await sender.whenIdle();
    expect(await db().collections.broadcasts.findOne({ _id: broadcastId })).toMatchObject({ status: 'sent' });
    const texts = h.fake.chat(ADMIN).messages.map((message) => message.text ?? '');
    expect(texts.filter((text) => text.startsWith('📣 Broadcast interrupted'))).toEqual([]);
    expect(texts.filter((text) => text.startsWith('📣 Broadcast finished.'))).toHaveLength(1);
  });

  it('sends nothing for a broadcast asked for while the bot is stopping', async () => {
    // Must hold: a /broadcast whose start is still under way when the broadcaster stops (SIGTERM
    // during the command) must not begin sending afterwards: stop() has already let the process
    // exit, so its copies would be cut off unrecorded. Found by the chaos test.
    h.fake.setLatency('sendMessage', 60);
    const sender = broadcaster();
    const starting = sender.start(request());
    await new Promise((resolve) => setTimeout(resolve, 20));
    await sender.stop(1_000);

    await expect(starting).rejects.toThrow(/stopping/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(h.fake.callCount('copyMessage')).toBe(0);
    const broadcasts = await db().collections.broadcasts.find().toArray();
    expect(broadcasts.every((broadcast) => broadcast.status === 'interrupted')).toBe(true);
    await expect(sender.start(request())).rejects.toThrow(/stopping/);
  });

  it('stops sending once the deletion time has come', async () => {
    const sender = broadcaster();
    h.fake.setLatency('copyMessage', 5);
    const { broadcastId } = await sender.start(request(60_000));
    await waitFor(async () => (await db().collections.broadcastMessages.countDocuments()) >= 5);
    nowMs += 61_000;
    await sender.whenIdle();
    const broadcast = await db().collections.broadcasts.findOne({ _id: broadcastId });
    expect(broadcast?.status).toBe('sent');
    expect(broadcast?.counts.delivered).toBeLessThan(30);
    expect(h.fake.lastBotMessage(ADMIN)?.text).toMatch(/^📣 Broadcast stopped at its deletion time\./);
  });
});

describe('broadcaster: nothing lost, nobody written off (#10)', () => {
  const db = useTestDatabase();
  let h: JobHarness;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeEach(async () => {
    await Promise.all(Object.values(db().collections).map((collection) => collection.deleteMany({})));
    h = await startJobHarness(db(), { now: new Date() });
    h.fake.addChat(ADMIN, { user: { id: ADMIN, first_name: 'Admin' } });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await h.close();
  });

  async function seedUsers(repos: Repositories, count: number) {
    for (let id = 1; id <= count; id++) {
      h.fake.addChat(2000 + id, { user: { id: 2000 + id, first_name: `U${id}` } });
      await repos.users.upsertFromTelegram({ id: 2000 + id, first_name: `U${id}` }, 2000 + id, h.now());
    }
  }

  const broadcasterOn = (repos: Repositories, leaseMs: number, instanceId = 'sender') =>
    testBroadcaster(h, {
      repos,
      leaseMs,
      instanceId,
      clock: () => h.now(),
      batchSize: 10,
      concurrency: 3,
      gate: true,
    });
  const request = (deleteInMs = 3_600_000) => broadcastRequest(h, new Date(h.now().getTime() + deleteInMs));
  /** Copies of the broadcast sitting in users' chats, whoever knows about them. */
  const copiesInChats = (sourceMessageId: number) =>
    Array.from({ length: 40 }, (_, i) => 2001 + i).flatMap((chatId) =>
      h.fake
        .messages(chatId)
        .filter((message) => message.copied_from?.message_id === sourceMessageId)
        .map((message) => `${chatId}:${message.message_id}`),
    );
  const adminTexts = () => h.fake.messages(ADMIN).map((message) => message.text ?? '');

  it('#10.4 a database that fails mid-broadcast stops the sending, tells the admin, and loses no copy', async () => {
    // Must hold: while MongoDB is down no copy goes out that cannot be recorded (each sender waits
    // for its copy's record); once the failures last the patience the broadcast stops and the admin
    // is told; when the database is back every copy in users' chats is recorded, so the deleter
    // will delete it, and the broadcast ends interrupted. The process never sees an unhandled error.
    const emulator = await startMongoEmulator({ port: 0 });
    cleanups.push(() => emulator.close());
    const client = new MongoClient(emulator.uri, { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300 });
    await client.connect();
    cleanups.push(() => client.close());
    const repos = createRepositories(getCollections(client.db('broadcast_outage')));
    await seedUsers(repos, 40);
    h.fake.setLatency('copyMessage', 15);
    const sender = broadcasterOn(repos, 400);
    const req = request();
    const { broadcastId } = await sender.start(req);
    const collections = getCollections(client.db('broadcast_outage'));
    await waitFor(async () => (await collections.broadcastMessages.countDocuments()) >= 6);
    await emulator.stop();
    await waitFor(
      () => adminTexts().some((text) => text.startsWith('📣 Broadcast stopped: the database is unavailable')),
      {
        message: 'the admin told about the database',
      },
    );
    const sentDuringOutage = copiesInChats(req.sourceMessageId).length;
    await emulator.start();
    await sender.whenIdle();

    const recorded = await collections.broadcastMessages.find({ broadcast_id: broadcastId }).toArray();
    const inChats = copiesInChats(req.sourceMessageId);
    expect(inChats.length).toBe(sentDuringOutage);
    expect(inChats.length).toBeLessThan(40);
    expect(recorded.map((copy) => `${copy.chat_id}:${copy.message_id}`).sort()).toEqual([...inChats].sort());
    const broadcast = await collections.broadcasts.findOne({ _id: broadcastId });
    expect(broadcast).toMatchObject({ status: 'interrupted', counts: { delivered: inChats.length } });
    // One report (the progress message aside).
    const reports = adminTexts().filter(
      (text) => text.startsWith('📣 Broadcast') && !text.startsWith('📣 Broadcasting'),
    );
    expect(reports).toEqual([expect.stringMatching(/^📣 Broadcast stopped: the database is unavailable/)]);
  });

  it('#10.5 a sender that died and restarted at once is found by the periodic sweep within about a lease, and reported once', async () => {
    // Must hold: a `sending` broadcast whose sender is gone (fresh heartbeat at the moment of a
    // quick restart) is not reported too early, is reported once the heartbeat is a lease old
    // by the next sweep of any instance, and exactly once across instances.
    const leaseMs = 600;
    const { insertedId } = await db().collections.broadcasts.insertOne({
      delete_at: new Date(h.now().getTime() + 3_600_000),
      created_at: h.now(),
      created_by: ADMIN,
      source_chat_id: ADMIN,
      source_message_id: 1,
      status: 'sending',
      counts: { total: 30, delivered: 7, blocked: 0, failed: 0 },
      progress_chat_id: ADMIN,
      owner: 'crashed-a-moment-ago',
      heartbeat_at: new Date(),
    });
    const restarted = [
      broadcasterOn(h.deps.repos, leaseMs, 'new-a'),
      broadcasterOn(h.deps.repos, leaseMs, 'new-b'),
    ];
    for (const instance of restarted) instance.startSweeping();
    cleanups.push(() => Promise.all(restarted.map((instance) => instance.stop(1_000))));
    expect(await db().collections.broadcasts.findOne({ _id: insertedId })).toMatchObject({
      status: 'sending',
    });
    await waitFor(
      async () => (await db().collections.broadcasts.findOne({ _id: insertedId }))?.status === 'interrupted',
      {
        message: 'the sweep to find the dead sender',
      },
    );
    await waitFor(() => adminTexts().some((text) => text.startsWith('📣 Broadcast interrupted')));
    // A few more sweeps: still one report.
    await Promise.all(restarted.map((instance) => instance.sweepInterrupted()));
    expect(adminTexts().filter((text) => text.startsWith('📣 Broadcast interrupted'))).toEqual([
      expect.stringContaining('Delivered 7, blocked 0, failed 0 (of 30 users)'),
    ]);
  });

  it('#10.6 a flood wait longer than TELEGRAM_MAX_RETRY_AFTER_SECONDS pauses the broadcast and writes nobody off', async () => {
    // Must hold: a 429 asking for two minutes makes the sender wait two minutes (the progress
    // message says so), then every recipient gets the copy; none is counted failed.
    await seedUsers(h.deps.repos, 30);
    h.fake.injectFault({ method: 'copyMessage', status: 429, retryAfter: 120 });
    const sender = broadcasterOn(h.deps.repos, 60_000);
    const { broadcastId } = await sender.start(request());
    await sender.whenIdle();
    const broadcast = await db().collections.broadcasts.findOne({ _id: broadcastId });
    expect(broadcast).toMatchObject({
      status: 'sent',
      counts: { total: 30, delivered: 30, blocked: 0, failed: 0 },
    });
    expect(h.gateWaits().reduce((sum, ms) => sum + ms, 0)).toBeGreaterThanOrEqual(119_000);
    const edits = h.fake.calls.filter((call) => call.method === 'editMessageText' && call.ok);
    expect(edits.some((call) => /waiting 120 s, then sending goes on/.test(String(call.params.text)))).toBe(
      true,
    );
    expect(adminTexts().at(-1)).toMatch(/^📣 Broadcast finished\.\nDelivered 30, blocked 0, failed 0/);
  });
});

describe('broadcaster: cancelling a broadcast that is sending, from any instance (#15)', () => {
  const db = useTestDatabase();
  let h: JobHarness;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeEach(async () => {
    await Promise.all(Object.values(db().collections).map((collection) => collection.deleteMany({})));
    h = await startJobHarness(db(), { now: new Date() });
    h.fake.addChat(ADMIN, { user: { id: ADMIN, first_name: 'Admin' } });
    for (let id = 1; id <= 40; id++) {
      h.fake.addChat(3000 + id, { user: { id: 3000 + id, first_name: `U${id}` } });
      await h.deps.repos.users.upsertFromTelegram(
        { id: 3000 + id, first_name: `U${id}` },
        3000 + id,
        h.now(),
      );
    }
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await h.close();
  });

  /** At the default 60-second lease: a quarter of it would be far too long to wait for a cancel. */
  const broadcasterOn = (repos: Repositories, instanceId: string, concurrency = 3) =>
    testBroadcaster(h, {
      repos,
      leaseMs: 60_000,
      instanceId,
      clock: () => h.now(),
      batchSize: 10,
      concurrency,
    });
  const request = (deleteInMs = 3_600_000) => broadcastRequest(h, new Date(h.now().getTime() + deleteInMs));
  const adminTexts = () => h.fake.messages(ADMIN).map((message) => message.text ?? '');
  const reports = () =>
    adminTexts().filter((text) => text.startsWith('📣 Broadcast') && !text.startsWith('📣 Broadcasting'));
  const cancelLines = () => h.logs.records().filter((record) => record.msg === 'broadcast cancel asked for');
  const timeText = (at: Date) =>
    `${new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(at)} UTC`;

  it('a cancel on the sending instance stops it at once: the copies in flight finish and are recorded, the admin is told, and the deleter deletes them at their time', async () => {
    // Must hold: cancelling stops the sending as an interruption does (no copy sent after it but
    // those already on the wire, each of them recorded), the broadcast ends `cancelled` with the
    // request recorded, the admin gets one report with the counts, and the copies delivered are
    // deleted at delete_at like those of any broadcast.
    const held = h.fake.holdCalls('copyMessage');
    const sender = broadcasterOn(h.deps.repos, 'sender');
    cleanups.push(() => sender.stop(1_000));
    const req = request();
    const { broadcastId, total } = await sender.start(req);
    expect(total).toBe(40);
    await waitFor(() => h.fake.callsInFlight('copyMessage') === 3, { message: 'three copies on the wire' });

    expect(await sender.cancel(broadcastId.toHexString(), 'dashboard:admin-token')).toBe('requested');
    held.release();
    await sender.whenIdle();

    const broadcast = await db().collections.broadcasts.findOne({ _id: broadcastId });
    expect(broadcast).toMatchObject({
      status: 'cancelled',
      counts: { total: 40, delivered: 3, blocked: 0, failed: 0 },
      cancel_requested_by: 'dashboard:admin-token',
      cancel_requested_at: expect.any(Date),
      finished_at: expect.any(Date),
    });
    expect(h.fake.callCount('copyMessage')).toBe(3);
    const recorded = await db().collections.broadcastMessages.find({ broadcast_id: broadcastId }).toArray();
    const inChats = Array.from({ length: 40 }, (_, i) => 3001 + i).flatMap((chatId) =>
      h.fake
        .messages(chatId)
        .filter((message) => message.copied_from?.message_id === req.sourceMessageId)
        .map((message) => `${chatId}:${message.message_id}`),
    );
    expect(inChats).toHaveLength(3);
    expect(recorded.map((copy) => `${copy.chat_id}:${copy.message_id}`).sort()).toEqual(inChats.sort());
    expect(reports()).toEqual([
      [
        '📣 Broadcast cancelled: sending stopped on request.',
        'Delivered 3, blocked 0, failed 0 (of 40 users); the rest were not sent.',
        `The delivered copies will still be deleted at ${timeText(req.deleteAt)}.`,
      ].join('\n'),
    ]);
    expect(cancelLines()).toEqual([
      expect.objectContaining({
        level: 'info',
        broadcastId: broadcastId.toHexString(),
        by: 'dashboard:admin-token',
        outcome: 'requested',
      }),
    ]);

    // At its deletion time the broadcast deleter deletes every copy and then the broadcast.
    const result = await deleteExpiredBroadcasts(h.deps, h.input(req.deleteAt));
    expect(result).toEqual({ broadcasts: 1, messagesDeleted: 3, failed: 0, deferred: 0 });
    for (const copy of recorded) expect(h.fake.chat(copy.chat_id).messages).toEqual([]);
    expect(await db().collections.broadcasts.countDocuments()).toBe(0);
    expect(await db().collections.broadcastMessages.countDocuments()).toBe(0);
  });

  it('a cancel asked for on another instance stops the sender within a few seconds at a 60-second lease', async () => {
    // Must hold: the instance that receives the cancel need not be the one sending; the sender
    // hears of it through its heartbeat, which beats every 2 s whatever the lease, and ends the
    // broadcast `cancelled` with one report. Unsent, the broadcast would take about 8 s.
    h.fake.setLatency('copyMessage', 400);
    const sender = broadcasterOn(h.deps.repos, 'instance-a', 2);
    const other = await db().connectAnother();
    const elsewhere = broadcasterOn(createRepositories(other.collections), 'instance-b', 2);
    cleanups.push(() => sender.stop(1_000));
    const { broadcastId } = await sender.start(request());
    await waitFor(
      async () =>
        (await db().collections.broadcastMessages.countDocuments({ broadcast_id: broadcastId })) >= 2,
    );

    const askedAt = Date.now();
    expect(await elsewhere.cancel(broadcastId.toHexString(), 'dashboard:admin-token')).toBe('requested');
    const broadcast = await waitFor(
      async () => {
        const doc = await db().collections.broadcasts.findOne({ _id: broadcastId });
        return doc?.status === 'sending' ? undefined : doc;
      },
      { message: 'the sender to end the broadcast' },
    );
    const stoppedAfterMs = Date.now() - askedAt;
    await sender.whenIdle();

    expect(broadcast.status).toBe('cancelled');
    // The next heartbeat (at most 2 s) and the copies then in flight (0.4 s), with room for a
    // loaded machine; a quarter lease would be 15 s.
    expect(stoppedAfterMs).toBeLessThan(4_000);
    const delivered = broadcast.counts.delivered;
    expect(delivered).toBeLessThan(40);
    expect(h.fake.callCount('copyMessage')).toBe(delivered);
    expect(await db().collections.broadcastMessages.countDocuments({ broadcast_id: broadcastId })).toBe(
      delivered,
    );
    expect(reports()).toEqual([
      expect.stringMatching(
        new RegExp(
          `^📣 Broadcast cancelled: sending stopped on request\\.\\nDelivered ${delivered}, blocked 0`,
        ),
      ),
    ]);
    const ended = h.logs.records().find((record) => record.msg === 'broadcast sending ended');
    expect(ended).toMatchObject({ cancelled: true, interrupted: false });
  });

  it('a cancel that comes once the sender found nobody left cut nothing short: the broadcast ends sent', async () => {
    // Must hold: `cancelled` says some users were not sent the broadcast because of the request.
    // The request lands here just as the sender reads the empty page after the last recipient.
    const repos = createRepositories(db().collections);
    const sender = broadcasterOn(repos, 'sender');
    cleanups.push(() => sender.stop(1_000));
    let broadcastId: ObjectId | undefined;
    const reachable = repos.users.reachableRecipients.bind(repos.users);
    repos.users.reachableRecipients = (batchSize, afterId) => {
      const cursor = reachable(batchSize, afterId);
      const toArray = cursor.toArray.bind(cursor);
      cursor.toArray = async () => {
        const page = await toArray();
        if (page.length === 0 && broadcastId) {
          expect(await sender.cancel(broadcastId.toHexString(), 'dashboard:admin-token')).toBe('requested');
        }
        return page;
      };
      return cursor;
    };
    ({ broadcastId } = await sender.start(request()));
    await sender.whenIdle();

    expect(await db().collections.broadcasts.findOne({ _id: broadcastId })).toMatchObject({
      status: 'sent',
      counts: { total: 40, delivered: 40 },
      cancel_requested_by: 'dashboard:admin-token',
    });
    expect(reports()).toEqual([expect.stringMatching(/^📣 Broadcast finished\.\nDelivered 40, blocked 0/)]);
  });

  it('a cancel of a finished, unknown or malformed id changes nothing and says why', async () => {
    const sender = broadcasterOn(h.deps.repos, 'sender');
    cleanups.push(() => sender.stop(1_000));
    const { broadcastId } = await sender.start(request());
    await sender.whenIdle();
    const before = await db().collections.broadcasts.find().toArray();
    expect(before).toEqual([expect.objectContaining({ _id: broadcastId, status: 'sent' })]);
    const reportsBefore = reports();

    expect(await sender.cancel(broadcastId.toHexString(), 'dashboard:admin-token')).toBe('not-sending');
    expect(await sender.cancel(new ObjectId().toHexString(), 'dashboard:admin-token')).toBe('not-found');
    // Twelve characters were once read as an ObjectId's bytes by the driver; here they are refused.
    for (const id of ['', 'nope', 'abcdefghijkl', `${broadcastId.toHexString()}0`, 'zz'.repeat(12)]) {
      expect(await sender.cancel(id, 'dashboard:admin-token'), id).toBe('invalid-id');
    }

    expect(await db().collections.broadcasts.find().toArray()).toEqual(before);
    expect(reports()).toEqual(reportsBefore);
    expect(cancelLines().map((record) => record.outcome)).toEqual([
      'not-sending',
      'not-found',
      'invalid-id',
      'invalid-id',
      'invalid-id',
      'invalid-id',
      'invalid-id',
    ]);
  });

  it('a cancel asked for a broadcast whose sender died leaves it to the sweep, which reports it interrupted', async () => {
    const { insertedId } = await db().collections.broadcasts.insertOne({
      delete_at: new Date(h.now().getTime() + 3_600_000),
      created_at: h.now(),
      created_by: ADMIN,
      source_chat_id: ADMIN,
      source_message_id: 1,
      status: 'sending',
      counts: { total: 40, delivered: 9, blocked: 0, failed: 0 },
      progress_chat_id: ADMIN,
      owner: 'killed-instance',
      heartbeat_at: new Date(Date.now() - 5 * 60_000),
    });
    const instance = broadcasterOn(h.deps.repos, 'survivor');
    expect(await instance.cancel(insertedId.toHexString(), 'dashboard:admin-token')).toBe('requested');
    expect(await instance.sweepInterrupted()).toBe(1);
    expect(await db().collections.broadcasts.findOne({ _id: insertedId })).toMatchObject({
      status: 'interrupted',
      cancel_requested_by: 'dashboard:admin-token',
    });
    expect(reports()).toEqual([expect.stringMatching(/^📣 Broadcast interrupted.*\nDelivered 9, blocked 0/)]);
  });
});
