/** Errors of registry transfers: one line a user can act on (the CLI prints "Error: " + message). */
import { StoreError } from '../store/errors';

export class RegistryError extends StoreError {
  constructor(message: string, readonly status?: number, readonly code?: string) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** The registry refused our credentials (or wants some and we have none). */
export class AuthError extends RegistryError {
  constructor(message: string) {
    super(message, 401, 'UNAUTHORIZED');
    this.name = 'AuthError';
  }
}

/**
 * A failure worth trying again: a dropped or refused connection, a timeout, a 5xx or 429.
 * Retried with backoff by the client; what escapes is reported as a RegistryError.
 */
export class TransientError extends RegistryError {
  constructor(message: string, status?: number) {
    super(message, status);
    this.name = 'TransientError';
  }
}

/** Node's network errors that a retry may cure. */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);

export function isTransient(e: unknown): boolean {
  if (e instanceof TransientError) return true;
  if (e instanceof RegistryError) return false;
  const err = e as NodeJS.ErrnoException;
  return TRANSIENT_CODES.has(err?.code ?? '') || /socket hang up|aborted|timed out/i.test(err?.message ?? '');
}

/** The message of a low-level error without Node's stack noise. */
export function errorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.message ?? String(e);
}
