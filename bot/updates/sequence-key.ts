/**
 * Which updates must be handled one after another: a user's button presses in the order pressed
 * (their user id), otherwise a chat's updates in order (its chat id), else the sender's. An update
 * with none of these runs on its own. Private chat ids equal user ids, so a user's messages and
 * button presses share one key.
 */
/** Takes a parsed Update or a webhook's raw JSON body alike (nothing in it is trusted). */
export function sequenceKey(update: object): string {
  const body = Object.entries(update).find(([field]) => field !== 'update_id');
  const [kind, payload] = body ?? ['', undefined];
  const object = payload !== null && typeof payload === 'object' ? (payload as Record<string, unknown>) : {};
  const idOf = (value: unknown): number | undefined => {
    const id = value !== null && typeof value === 'object' ? (value as { id?: unknown }).id : undefined;
    return typeof id === 'number' && Number.isSafeInteger(id) ? id : undefined;
  };
  const message = object.message !== null && typeof object.message === 'object' ? object.message : undefined;
  const userId = idOf(object.from) ?? idOf(object.user);
  const chatId = idOf(object.chat) ?? idOf((message as { chat?: unknown } | undefined)?.chat);
  const id = kind === 'callback_query' ? (userId ?? chatId) : (chatId ?? userId);
  return id === undefined ? `update:${String((update as { update_id?: unknown }).update_id)}` : String(id);
}
