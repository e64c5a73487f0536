import type { Location } from './ast';

/**
 * A Dockerfile the builder cannot accept. The message is one line, `<file>:<line>:<col>: <what>`,
 * so editors and terminals can jump to it; the parts stay available as fields.
 */
export class DockerfileError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The message without its location prefix. */
  readonly reason: string;

  constructor(where: { file: string; line: number; column: number }, reason: string) {
    super(`${where.file}:${where.line}:${where.column}: ${reason}`);
    this.name = 'DockerfileError';
    this.file = where.file;
    this.line = where.line;
    this.column = where.column;
    this.reason = reason;
  }

  /** An error at an instruction's location (for errors found after parsing, e.g. expansion). */
  static at(loc: Location, reason: string): DockerfileError {
    return new DockerfileError(loc, reason);
  }
}
