import { randomBytes } from 'node:crypto';
import { InputFile } from 'grammy';
import { describe, expect, it } from 'vitest';
import { DESCRIPTIONS } from '../index.js';
import { alice, grammyError, useFakeWithBot } from './helpers.js';

describe('fake Bot API: sendDocument (multipart uploads)', () => {
  const { fake, bot } = useFakeWithBot({ chats: [alice] });

  it('takes a grammY upload (multipart, attach://) and keeps its bytes', async () => {
    const bytes = randomBytes(300_000);
    const sent = await bot.api.sendDocument(alice.id, new InputFile(bytes, 'backup.tar'), {
      caption: 'nightly',
    });
    expect(sent.document).toMatchObject({ file_name: 'backup.tar', file_size: bytes.length });
    expect(sent.caption).toBe('nightly');
    const [document] = fake.documents(alice.id);
    expect(document?.fileName).toBe('backup.tar');
    expect(document?.bytes.equals(bytes)).toBe(true);
    expect(fake.calls.at(-1)?.params).toMatchObject({ chat_id: String(alice.id), caption: 'nightly' });
  });

  it("refuses an upload over Telegram's 50 MB with 413 Request Entity Too Large", async () => {
    const before = fake.documents().length;
    const error = await grammyError(
      bot.api.sendDocument(alice.id, new InputFile(Buffer.alloc(50 * 1024 * 1024 + 1), 'big.tar')),
    );
    expect({ code: error.error_code, description: error.description }).toEqual({
      code: 413,
      description: DESCRIPTIONS.requestEntityTooLarge,
    });
    expect(fake.documents()).toHaveLength(before);
  });

  it('refuses an unknown file id, an empty file, and an unknown chat, as Telegram does', async () => {
    const byId = await grammyError(bot.api.sendDocument(alice.id, 'no-such-file-id'));
    expect(byId.description).toBe('Bad Request: wrong file identifier/HTTP URL specified');
    const empty = await grammyError(bot.api.sendDocument(alice.id, new InputFile(Buffer.alloc(0), 'e.tar')));
    expect(empty.description).toBe('Bad Request: file must be non-empty');
    const unknown = await grammyError(
      bot.api.sendDocument(987_654, new InputFile(Buffer.from('x'), 'x.tar')),
    );
    expect(unknown.description).toBe('Bad Request: chat not found');
  });
});
