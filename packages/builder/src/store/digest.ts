/**
 * Digests (image-spec descriptor.md): "sha256:<64 lowercase hex>". Only sha256 is written;
 * sha512 is accepted in documents we read but its blobs are refused (no tool we meet writes it).
 */
import * as crypto from 'crypto';
import { StoreError } from './errors';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && SHA256.test(s);
}

/** The digest, checked: anything else is a one-line error naming what was given. */
export function checkDigest(s: unknown, what = 'digest'): string {
  if (!isDigest(s)) throw new StoreError(`invalid ${what} ${JSON.stringify(s)}: want sha256:<64 hex digits>`);
  return s;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part of a digest (the file name under blobs/sha256/). */
export function encoded(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** Docker's short image ID: the first 12 hex digits. */
export function shortId(digest: string): string {
  return encoded(digest).slice(0, 12);
}
