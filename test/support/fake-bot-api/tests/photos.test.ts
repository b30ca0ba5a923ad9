import { createCanvas } from '@napi-rs/canvas';
import { InputFile } from 'grammy';
import { describe, expect, it } from 'vitest';
import { PHOTO_DESCRIPTIONS } from '../methods/photos.js';
import { alice, grammyError, rawCall, useFakeWithBot } from './helpers.js';

/** A real PNG drawn on a canvas. */
function png(width: number, height: number): Buffer {
  const canvas = createCanvas(width, height);
  const context = canvas.getContext('2d');
  context.fillStyle = '#336699';
  context.fillRect(0, 0, width, height);
  return canvas.toBuffer('image/png');
}

/** Just a PNG signature and header: enough for the size checks, without allocating the pixels. */
function pngHeader(width: number, height: number, totalBytes = 33): Buffer {
  const bytes = Buffer.alloc(totalBytes);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0);
  bytes.writeUInt32BE(13, 8);
  bytes.write('IHDR', 12, 'latin1');
  bytes.writeUInt32BE(width, 16);
  bytes.writeUInt32BE(height, 20);
  return bytes;
}

describe('fake Bot API: sendPhoto with multipart uploads', () => {
  const { fake, bot } = useFakeWithBot({ chats: [alice] });

  it('accepts an uploaded PNG, answers a photo message and keeps the exact bytes', async () => {
    const bytes = png(300, 200);
    const sent = await bot.api.sendPhoto(alice.id, new InputFile(bytes, 'chart.png'), {
      caption: 'Figures of the day',
    });
    expect(sent.caption).toBe('Figures of the day');
    expect(sent).not.toHaveProperty('text');
    const [photo] = sent.photo ?? [];
    expect(photo).toMatchObject({ width: 300, height: 200, file_size: bytes.length });
    expect(fake.uploadedFile(photo?.file_id ?? '')?.equals(bytes)).toBe(true);
    expect(fake.lastBotMessage(alice.id)?.photo?.[0]?.file_id).toBe(photo?.file_id);
    expect(fake.calls.at(-1)?.params).toMatchObject({
      chat_id: String(alice.id),
      caption: 'Figures of the day',
    });

    // The file_id sends the same photo again without an upload.
    const again = await bot.api.sendPhoto(alice.id, photo?.file_id ?? '');
    expect(again.photo?.[0]).toMatchObject({ file_id: photo?.file_id, width: 300, height: 200 });
    expect((await grammyError(bot.api.sendPhoto(alice.id, 'AgACAgIAAxkNOPE'))).description).toBe(
      PHOTO_DESCRIPTIONS.wrongFileId,
    );
  });

  it('refuses what Telegram refuses: long captions, bad dimensions, big files, non-images', async () => {
    const upload = (bytes: Buffer, caption?: string) =>
      grammyError(
        bot.api.sendPhoto(alice.id, new InputFile(bytes), caption === undefined ? {} : { caption }),
      );

    expect((await upload(png(10, 10), 'x'.repeat(1025))).description).toBe(PHOTO_DESCRIPTIONS.captionTooLong);
    // 1024 characters (code points, not UTF-16 units) is still fine.
    await expect(
      bot.api.sendPhoto(alice.id, new InputFile(png(10, 10)), { caption: '📊'.repeat(1024) }),
    ).resolves.toBeDefined();

    expect((await upload(pngHeader(5001, 5000))).description).toBe(PHOTO_DESCRIPTIONS.invalidDimensions);
    expect((await upload(pngHeader(100, 2001))).description).toBe(PHOTO_DESCRIPTIONS.invalidDimensions);
    expect((await upload(pngHeader(10 * 1024 * 1024 + 1, 1, 10 * 1024 * 1024 + 1))).description).toBe(
      PHOTO_DESCRIPTIONS.tooBig,
    );
    expect((await upload(Buffer.from('not an image at all'))).description).toBe(
      PHOTO_DESCRIPTIONS.notAnImage,
    );
    // At the limits exactly: 5000 + 5000 and 20:1 pass.
    await expect(bot.api.sendPhoto(alice.id, new InputFile(pngHeader(5000, 5000)))).resolves.toBeDefined();
    await expect(bot.api.sendPhoto(alice.id, new InputFile(pngHeader(100, 2000)))).resolves.toBeDefined();

    fake.blockBot(alice.id);
    const blocked = await grammyError(bot.api.sendPhoto(alice.id, new InputFile(png(10, 10))));
    expect(blocked.error_code).toBe(403);
  });

  it('reads parts named after the parameter as well as attach:// references', async () => {
    const bytes = png(40, 30);
    const boundary = 'b0undary';
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n${alice.id}\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      bytes,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const response = await fetch(`${fake.apiRoot}/bot${fake.token}/sendPhoto`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    const answer = (await response.json()) as { ok: boolean; result: { photo: { file_id: string }[] } };
    expect(answer.ok).toBe(true);
    expect(fake.uploadedFile(answer.result.photo[0]?.file_id ?? '')?.equals(bytes)).toBe(true);

    const dangling = await rawCall(fake, 'sendPhoto', { chat_id: alice.id, photo: 'attach://missing' });
    expect(dangling.status).toBe(400);
    const none = await rawCall(fake, 'sendPhoto', { chat_id: alice.id });
    expect(none.body.description).toBe(PHOTO_DESCRIPTIONS.noPhoto);
  });
});
