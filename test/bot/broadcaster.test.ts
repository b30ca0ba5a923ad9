import { MongoClient } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Broadcaster } from '../../bot/services/broadcaster.js';
import { getCollections } from '../../db/collections.js';
import { createRepositories, type Repositories } from '../../db/repositories/index.js';
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
