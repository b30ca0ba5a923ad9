/**
 * Reads a sorted scan page by page from a bookmark and hands each page to `handle`, stopping
 * before the next page once `signal` aborts (what was not handed over stays untouched for the
 * next run). No cursor stays open while a page is worked on, however long that takes.
 */
export async function forEachPage<T, B>(options: {
  fetch(after: B | undefined, limit: number): Promise<T[]>;
  bookmark(item: T): B;
  size: number;
  signal: AbortSignal;
  handle(page: T[]): Promise<void>;
}): Promise<void> {
  let after: B | undefined;
  while (!options.signal.aborted) {
    const page = await options.fetch(after, options.size);
    const last = page.at(-1);
    if (last === undefined) return;
    after = options.bookmark(last);
    await options.handle(page);
    if (page.length < options.size) return;
  }
}
