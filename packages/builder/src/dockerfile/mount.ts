import type { RunMount } from './ast';

/**
 * Parses one `--mount=` value (csv `key=value` fields) with BuildKit's keys and defaults.
 * `expand`, when given, is applied to each value first (the builder passes the stage's
 * ARG/ENV expander at dispatch time). Throws Error with a one-line reason.
 */
export function parseMount(raw: string, expand?: (value: string) => string): RunMount {
  void raw; void expand;
  throw new Error('not implemented yet');
}
