/** Errors of the image store: one line a user can act on, and the exit status to end with. */
export class StoreError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'StoreError';
  }
}

/** A reference or image ID that names nothing in the store (docker's "No such image"). */
export class NoSuchImageError extends StoreError {
  constructor(readonly image: string) {
    super(`No such image: ${image}`);
    this.name = 'NoSuchImageError';
  }
}

/** A blob whose content does not hash to its digest: the store (or an archive) is corrupt. */
export class DigestMismatchError extends StoreError {
  constructor(readonly expected: string, readonly actual: string, where = 'blob') {
    super(`${where} ${expected} is corrupt: its content has digest ${actual}`);
    this.name = 'DigestMismatchError';
  }
}
