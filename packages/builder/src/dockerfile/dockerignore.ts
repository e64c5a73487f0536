/**
 * .dockerignore with Docker's exact rules (moby/patternmatcher): comments, `!` exceptions,
 * `**`, patterns cleaned like filepath.Clean with a leading `/` dropped, filepath.Match syntax.
 */

/** Reads a .dockerignore file into its cleaned patterns (exceptions keep their leading `!`). */
export function parseDockerignore(text: string): string[] {
  void text;
  throw new Error('not implemented yet');
}

/** Decides whether a context-relative path ('a/b/c', forward slashes) is excluded. */
export class IgnoreMatcher {
  constructor(readonly patterns: string[]) {}
  /** True when the path is excluded from the build context. */
  ignores(path: string): boolean {
    void path;
    throw new Error('not implemented yet');
  }
  /** True when a `!` pattern exists (a walker must then descend into excluded directories). */
  get hasExceptions(): boolean {
    return this.patterns.some((p) => p.startsWith('!'));
  }
}

/**
 * The ignore files to try, in order: `<dockerfile>.dockerignore` next to the Dockerfile
 * (`-f path/X.Dockerfile` -> `path/X.Dockerfile.dockerignore`), else `<context>/.dockerignore`.
 */
export function dockerignoreCandidates(contextDir: string, dockerfilePath?: string): string[] {
  void contextDir; void dockerfilePath;
  throw new Error('not implemented yet');
}
