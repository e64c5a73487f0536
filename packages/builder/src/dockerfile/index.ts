/** The Dockerfile front end: parser, word expander, .dockerignore. See ./ast.ts for the tree. */
export * from './ast';
export { DockerfileError } from './errors';
export { parseDockerfile } from './parse';
export { expandWord, expandWords, ShellWordError, type EnvLookup, type ExpandOptions } from './shell';
export { parseDockerignore, IgnoreMatcher, DockerignoreError, dockerignoreCandidates } from './dockerignore';
export { parseMount } from './mount';
