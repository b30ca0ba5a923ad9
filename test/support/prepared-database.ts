import type { UserDoc } from '../../db/collections.js';

/** What start-up and db:check print when two users share user_id 12345 (see the README). */
export const DUPLICATE_USER_LINE =
  'cannot build unique index user_id_unique on users: duplicate user_id 12345 (2 documents); see README "Repairing duplicates"';

/** A users document as the bot writes it, to prepare a database by hand (duplicates and all). */
export function userDoc(userId: number): Omit<UserDoc, '_id'> {
  const now = new Date();
  return {
    user_id: userId,
    chat_id: userId,
    first_name: 'A',
    last_name: null,
    username: null,
    joined_at: now,
    last_seen_at: now,
    blocked_at: null,
  };
}
