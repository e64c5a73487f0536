import type { Dockerfile, ParseOptions } from './ast';
import { DockerfileError } from './errors';

/** Parses a Dockerfile into stages and typed instructions; throws DockerfileError. */
export function parseDockerfile(text: string, opts: ParseOptions = {}): Dockerfile {
  void text;
  throw new DockerfileError({ file: opts.file ?? 'Dockerfile', line: 1, column: 1 }, 'not implemented yet');
}
