import type { Problem } from './problems';

/** Why a document was rejected; lets callers pick an exit code or hint without parsing text. */
export type SpecErrorKind = 'not-found' | 'unreadable' | 'invalid-json' | 'invalid-config';

/**
 * A config (or other spec document) that cannot be used. The message is always ONE line, ready
 * for a CLI to print after "tsrun: ", e.g.
 *   invalid config /b/config.json: /process: missing required property "cwd"; /process/args: must be array
 * Kept in its own tiny module so `instanceof SpecError` works without loading any validator.
 */
export class SpecError extends Error {
  override readonly name = 'SpecError';

  constructor(
    message: string,
    readonly kind: SpecErrorKind,
    /** The file involved, as resolved (absolute). */
    readonly file: string,
    /** Schema problems, for kind "invalid-config"; empty otherwise. */
    readonly problems: readonly Problem[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
