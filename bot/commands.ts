import type { Api } from 'grammy';
import type { Logger } from 'pino';
import { adminCommands } from './features/admin/index.js';

const USER_COMMANDS = [
  { command: 'start', description: 'Start the bot' },
  { command: 'help', description: 'How content links and verification work' },
];

/** The command menu: user commands for everyone, admin commands only in admins' own chats. */
export async function registerCommands(api: Api, adminIds: readonly number[], logger: Logger): Promise<void> {
  await api.setMyCommands(USER_COMMANDS);
  for (const adminId of adminIds) {
    try {
      await api.setMyCommands([...USER_COMMANDS, ...adminCommands()], {
        scope: { type: 'chat', chat_id: adminId },
      });
    } catch (error) {
      // An admin who never opened the bot has no chat yet; the menu appears after their /start.
      logger.warn({ adminId, err: error }, 'could not set the admin command menu for this admin');
    }
  }
}
