import { mkdir, writeFile } from 'node:fs/promises';
import { buildDigest } from '../bot/digest/digest.js';
import { connectDatabase } from '../db/client.js';
import { createRepositories } from '../db/repositories/index.js';
import { addDays } from '../db/repositories/stats.js';
import { startMongoEmulator } from '../test/support/mongo-emulator/index.js';

/*
 * npm run digest:example — renders docs/digest-example.png (and its caption) with the digest's own
 * code, from a synthetic history of 45 days written through StatsRepository into the MongoDB
 * emulator. Deterministic: the same figures and the same image on every run.
 */

const NOW = new Date('2026-03-10T08:00:00Z'); // the digest's 09:00 in Berlin
const TIMEZONE = 'Europe/Berlin';
const OUT = new URL('../docs/digest-example.png', import.meta.url);

/** A small deterministic generator (mulberry32), so the example never changes between runs. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function main(): Promise<void> {
  const emulator = await startMongoEmulator({ port: 0, now: () => NOW });
  const database = await connectDatabase({ uri: emulator.uri, dbName: 'digest_example' });
  try {
    const repos = createRepositories(database.collections);
    const next = random(14);
    const yesterday = addDays('2026-03-10', -1);
    for (let back = 45; back >= 1; back--) {
      const day = addDays(yesterday, -(back - 1));
      const weekday = new Date(`${day}T12:00:00Z`).getUTCDay();
      const weekend = weekday === 0 || weekday === 6 ? 1.4 : 1;
      const growth = 1 + (45 - back) / 60;
      const users = Math.round((18 + next() * 10) * weekend * growth);
      const issued = Math.round(users * (2.2 + next()));
      const verified = Math.round(issued * (0.62 + next() * 0.2));
      const deleted = Math.round(verified * 2 * (0.97 + next() * 0.03));
      await repos.stats.increment(day, {
        counts: {
          users_new: users,
          users_blocked: Math.round(next() * 4 + (back === 12 ? 9 : 0)),
          links_issued: issued,
          links_verified: verified,
          bypasses: Math.round(next() * 2),
          deliveries: verified + Math.round(next() * 20),
          messages_deleted: deleted,
          deletions_failed: Math.round(next() * 3 + (back === 20 ? 14 : 0)),
          notices: Math.round(deleted / 2),
        },
        runs: { succeeded: 1440 + 26, failed: back === 1 ? 1 : 0 },
      });
    }
    const digest = await buildDigest(repos, { timezone: TIMEZONE, now: NOW, days: 30 });
    await mkdir(new URL('.', OUT), { recursive: true });
    await writeFile(OUT, digest.png);
    await writeFile(new URL('../docs/digest-example-caption.txt', import.meta.url), `${digest.caption}\n`);
    console.log(`wrote ${OUT.pathname} (${digest.png.length} bytes), ${digest.from} to ${digest.to}\n`);
    console.log(digest.caption);
  } finally {
    await database.close();
    await emulator.close();
  }
}

await main();
