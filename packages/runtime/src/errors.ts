/**
 * Errors a user sees. Each carries a one-line message (runc's wording where runc has one)
 * and the exit status the CLI should end with.
 */
export class RuntimeError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** Thrown for operations on an id with no container, e.g. `state foo`. */
export class NotExistError extends RuntimeError {
  constructor(readonly id: string) {
    super('container does not exist');
  }
}

/** Node's error messages as Go prints them: "no such file or directory". */
export function describeSystemError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.errno === 'number') {
    const entry = (require('util') as typeof import('util')).getSystemErrorMap().get(err.errno < 0 ? err.errno : -err.errno);
    if (entry) return entry[1];
  }
  return err instanceof Error ? err.message : String(e);
}

/** strerror-like text for a positive errno, as libuv spells it. */
export function errnoText(errno: number): string {
  const entry = (require('util') as typeof import('util')).getSystemErrorMap().get(-errno);
  return entry ? entry[1] : `errno ${errno}`;
}
