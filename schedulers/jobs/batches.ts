import type { FindCursor } from 'mongodb';

/**
 * Streams a cursor in batches of `size` and hands each batch to `handle`, stopping before the next
 * batch once `signal` aborts (what was not handed over stays untouched for the next run). The
 * cursor is always closed.
 */
export async function forEachBatch<T>(
  cursor: FindCursor<T>,
  size: number,
  signal: AbortSignal,
  handle: (batch: T[]) => Promise<void>,
): Promise<void> {
  try {
    let batch: T[] = [];
    for await (const item of cursor) {
      batch.push(item);
      if (batch.length < size) continue;
      if (signal.aborted) return;
      await handle(batch);
      batch = [];
    }
    if (batch.length > 0 && !signal.aborted) await handle(batch);
  } finally {
    await cursor.close().catch(() => undefined);
  }
}
