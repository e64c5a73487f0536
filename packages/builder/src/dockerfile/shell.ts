/**
 * The shell-word expander with BuildKit's rules (frontend/dockerfile/shell): `$var`, `${var}`,
 * `${var:-w}` and friends, quotes and escapes. Not a shell: no command substitution, no globbing.
 */

/** Looks a variable up; undefined = unset (distinct from set-but-empty for `-`/`+`/`?`). */
export type EnvLookup = (name: string) => string | undefined;

export interface ExpandOptions {
  /** The Dockerfile's escape character (default '\\'). */
  escape?: '\\' | '`';
  /** Called with every variable name the word looks up (the cache keys on build args in use). */
  onLookup?: (name: string) => void;
}

/** A word the expander rejects (bad substitution, unterminated quote, `${x:?msg}` with x unset). */
export class ShellWordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShellWordError';
  }
}

/** Expands one word into one string (ENV/LABEL values, WORKDIR, USER, COPY paths ...). */
export function expandWord(word: string, env: EnvLookup, opts: ExpandOptions = {}): string {
  void word; void env; void opts;
  throw new ShellWordError('not implemented yet');
}

/** Expands into words split on unquoted whitespace, as BuildKit's ProcessWords. */
export function expandWords(word: string, env: EnvLookup, opts: ExpandOptions = {}): string[] {
  void word; void env; void opts;
  throw new ShellWordError('not implemented yet');
}
