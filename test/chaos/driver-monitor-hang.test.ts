import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { DbProxy } from '../support/chaos/db-proxy.js';
import { type MongoEmulator, startMongoEmulator } from '../support/mongo-emulator/index.js';

/**
 * A bug of the MongoDB Node.js driver (mongodb 7.9.0, the latest at the time) that the chaos test
 * ran into, pinned here so that a driver upgrade that fixes it is noticed (this test then fails:
 * remove it and ChaosInstance.driverMonitorHung, which treats a hung instance as dead).
 *
 * With polling monitoring (servers without `topologyVersion`, like the emulator; FaaS platforms;
 * serverMonitoringMode=poll), the monitor keeps an idle connection between checks. When the server
 * closes it, Node destroys the socket (peer's FIN read, our end written) and emits 'close' a tick
 * later. A check that starts in between (the topology asks for one as soon as another connection
 * of that server fails) finds `connection.closed` still false, writes to the destroyed socket
 * (write() returns false and nothing is ever emitted again), and waits for 'drain' forever: the
 * monitor never checks again. The next network error marks the server Unknown, and from then on
 * every operation fails server selection, however long MongoDB has been back.
 */
describe('mongodb driver: polling monitor hang (known bug, mongodb 7.9.0)', () => {
  let emulator: MongoEmulator | undefined;
  let client: MongoClient | undefined;
  let proxy: DbProxy | undefined;
  afterEach(async () => {
    await client?.close(true);
    proxy?.close();
    await emulator?.close();
  });

  it('a check started between the socket being destroyed and its close event never ends, and the client never reaches MongoDB again', async () => {
    emulator = await startMongoEmulator({ port: 0 });
    // The proxy only serves to have a command in flight when the server goes away (below).
    proxy = await DbProxy.start({ host: '127.0.0.1', port: emulator.port });
    client = new MongoClient(proxy.uri, {
      directConnection: true,
      serverSelectionTimeoutMS: 300,
      heartbeatFrequencyMS: 200,
      minHeartbeatFrequencyMS: 10,
    });
    await client.connect();
    const db = client.db('driver_hang');
    await db.command({ ping: 1 });
    // biome-ignore lint/suspicious/noExplicitAny: the driver's internals, to hit the race on purpose
    const monitor = ([...(client as any).topology.s.servers.values()][0] as any).monitor;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const socket = monitor.connection.socket;
    const seen: { destroyed?: boolean; closedFlag?: boolean } = {};
    socket.once('finish', () =>
      setImmediate(() => {
        seen.destroyed = socket.destroyed;
        seen.closedFlag = monitor.connection?.closed;
        monitor.requestCheck();
      }),
    );
    // The server closes every connection (a restart), and is back at once.
    await emulator.stop();
    await emulator.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).toEqual({ destroyed: true, closedFlag: false });

    // The client still works (nothing marked the server Unknown yet)...
    await db.command({ ping: 1 });
    // ...until a command in flight on an established connection meets the server going away: the
    // server is marked Unknown, and only the monitor could mark it known again.
    proxy.stall();
    const inFlight = db.command({ ping: 1 }).then(
      () => 'answered',
      (error: Error) => error.name,
    );
    await emulator.stop();
    proxy.resume();
    expect(await inFlight).toBe('MongoNetworkError');
    await emulator.start();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(monitor.s.state).toBe('monitoring');
    // MongoDB has been back for 1.5 s (7 heartbeat periods): every command still fails.
    await expect(db.command({ ping: 1 })).rejects.toMatchObject({ name: 'MongoServerSelectionError' });
  });
});
