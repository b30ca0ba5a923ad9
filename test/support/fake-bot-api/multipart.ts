import { createHash } from 'node:crypto';
import { type BotApiError, badRequest } from './api-error.js';
import type { RawParams } from './request-params.js';

/**
 * multipart/form-data, the way the Bot API server takes file uploads: every part is a parameter;
 * a part with a filename is a file. A file is used either under its own parameter name
 * (`photo=<file part>`) or through `attach://<part name>` in a parameter, which is what grammY sends.
 */

export interface UploadedPart {
  /** The form field's name. */
  name: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
}

export interface MultipartBody {
  fields: RawParams;
  files: ReadonlyMap<string, UploadedPart>;
}

/** Parses a multipart body; a malformed one gets the 400 Telegram's front end answers. */
export function parseMultipart(body: Buffer, contentType: string): MultipartBody | BotApiError {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const marker = boundary?.[1] ?? boundary?.[2];
  if (marker === undefined) return badRequest('multipart/form-data without a boundary');
  const delimiter = Buffer.from(`--${marker}`);
  const fields: RawParams = {};
  const files = new Map<string, UploadedPart>();
  let at = body.indexOf(delimiter);
  if (at < 0) return badRequest('multipart/form-data without any part');
  for (;;) {
    at += delimiter.length;
    // `--` after a delimiter closes the body.
    if (body.subarray(at, at + 2).toString('latin1') === '--') break;
    if (body.subarray(at, at + 2).toString('latin1') === '\r\n') at += 2;
    const next = body.indexOf(Buffer.from(`\r\n--${marker}`), at);
    if (next < 0) return badRequest('multipart/form-data part is not terminated');
    const part = body.subarray(at, next);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd < 0) return badRequest('multipart/form-data part without headers');
    const headers = parseHeaders(part.subarray(0, headerEnd).toString('utf8'));
    const disposition = headers.get('content-disposition') ?? '';
    const name = dispositionParam(disposition, 'name');
    if (name === undefined) return badRequest('multipart/form-data part without a name');
    const content = Buffer.from(part.subarray(headerEnd + 4));
    const filename = dispositionParam(disposition, 'filename');
    if (filename === undefined) {
      fields[name] = content.toString('utf8');
    } else {
      files.set(name, {
        name,
        filename,
        contentType: headers.get('content-type') ?? 'application/octet-stream',
        bytes: content,
      });
    }
    at = next + 2;
  }
  return { fields, files };
}

function parseHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** `name="x"` or `name=x` (grammY leaves the filename unquoted). */
function dispositionParam(disposition: string, key: string): string | undefined {
  for (const piece of disposition.split(';')) {
    const [rawKey, ...rest] = piece.split('=');
    if (rawKey?.trim().toLowerCase() !== key || rest.length === 0) continue;
    const value = rest.join('=').trim();
    return value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** The file a parameter names: its own part, or the part its `attach://` string points to. */
export function inputFile(
  params: RawParams,
  files: ReadonlyMap<string, UploadedPart> | undefined,
  name: string,
): UploadedPart | string | undefined {
  const own = files?.get(name);
  if (own !== undefined) return own;
  const value = params[name];
  if (value === undefined || value === '') return undefined;
  if (value.startsWith('attach://')) {
    const attached = files?.get(value.slice('attach://'.length));
    if (attached === undefined) throw badRequest(`file of field ${name} not found`);
    return attached;
  }
  // A file_id or a URL.
  return value;
}

/** Files the bot uploaded, by file_id, so tests can read back the exact bytes Telegram got. */
export class UploadedFiles {
  private readonly byId = new Map<string, { bytes: Buffer; uniqueId: string }>();

  add(bytes: Buffer): { fileId: string; uniqueId: string } {
    const digest = createHash('sha256').update(bytes).digest('base64url');
    const uniqueId = `AQAD${digest.slice(0, 12)}`;
    const fileId = `AgACAgIAAxk${digest.slice(0, 24)}${this.byId.size.toString(36)}`;
    this.byId.set(fileId, { bytes, uniqueId });
    return { fileId, uniqueId };
  }

  uniqueId(fileId: string): string | undefined {
    return this.byId.get(fileId)?.uniqueId;
  }

  get(fileId: string): Buffer | undefined {
    return this.byId.get(fileId)?.bytes;
  }

  has(fileId: string): boolean {
    return this.byId.has(fileId);
  }
}

/** Width and height from a PNG's IHDR, or undefined when the bytes are not a PNG. */
export function pngSize(bytes: Buffer): { width: number; height: number } | undefined {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(signature)) return undefined;
  if (bytes.subarray(12, 16).toString('latin1') !== 'IHDR') return undefined;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** Width and height from a JPEG's first SOFn marker, or undefined. */
export function jpegSize(bytes: Buffer): { width: number; height: number } | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let at = 2;
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1] ?? 0;
    const length = bytes.readUInt16BE(at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: bytes.readUInt16BE(at + 5), width: bytes.readUInt16BE(at + 7) };
    }
    at += 2 + length;
  }
  return undefined;
}
