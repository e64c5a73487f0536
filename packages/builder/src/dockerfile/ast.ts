/**
 * The Dockerfile syntax tree tsbuild builds from. Produced by parseDockerfile() (./parse.ts);
 * nothing here is expanded: every string is the source text with quotes and escapes intact
 * unless the field says otherwise, because BuildKit expands at dispatch time, with the build
 * args and ENV of the stage at that step (see EXPANSION and expandWord() in ./shell.ts).
 *
 *   const df = parseDockerfile(text, { file: 'Dockerfile' });
 *   df.directives.escape;                 // '\\' or '`'
 *   df.globalArgs;                        // ARGs before the first FROM (expand FROM with these)
 *   for (const st of df.stages) {
 *     st.name;                            // `AS name`, lower-cased as BuildKit does
 *     st.from.image;                      // unexpanded, e.g. 'alpine:${VER}'
 *     for (const ins of st.instructions) if (ins.kind === 'RUN') ins.mounts;
 *   }
 *
 * Errors are DockerfileError: message `<file>:<line>:<col>: <what>` on one line.
 */

/** Where an instruction is: 1-based; endLine is the last physical line it (or its heredocs) used. */
export interface Location {
  file: string;
  line: number;
  column: number;
  endLine: number;
}

/** The parser directives at the top of the file (`# syntax=`, `# escape=`, `# check=`). */
export interface Directives {
  syntax?: string;
  escape: '\\' | '`';
  check?: string;
}

/** One here-document (`<<EOF` ... `EOF`) attached to RUN/COPY/ADD. */
export interface Heredoc {
  /** The delimiter word, without quotes or `-` (e.g. 'EOF'). */
  name: string;
  /** The body, lines joined with '\n' and a trailing '\n' (tabs stripped when chomp). */
  content: string;
  /** False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no variable expansion. */
  expand: boolean;
  /** True for `<<-EOF`: leading tabs were removed from every body line. */
  chomp: boolean;
}

/**
 * Exec form (a valid JSON array of strings: `["a","b"]`) or shell form (anything else, kept
 * as the raw text to be run by the SHELL). This is exactly BuildKit's decision.
 */
export type CommandLine = { json: true; args: string[] } | { json: false; command: string };

/** Fields every instruction has. */
export interface InstructionBase<K extends string> {
  kind: K;
  location: Location;
  /**
   * The instruction's source text as docker history's `created_by` uses it: continuation
   * lines joined, surrounding whitespace trimmed, heredoc bodies not included.
   */
  original: string;
  /** The raw `--flag[=value]` words given, in order (for messages and the cache key). */
  flags: string[];
}

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';

/**
 * One `RUN --mount=...`, parsed with BuildKit's keys and defaults. Values are as written:
 * if `raw` contains `$`, re-parse it with parseMount(raw, expander) at dispatch time.
 */
export interface RunMount {
  raw: string;
  /** raw holds a `$` and was parsed unexpanded: re-parse with parseMount(raw, expander). */
  needsExpansion: boolean;
  type: MountType;
  /** target/dst/destination. For secret: defaults to /run/secrets/<id>. */
  target?: string;
  /** source/src: path in `from` (bind, cache) or the context. */
  source?: string;
  /** from: a stage name or image (bind, cache). */
  from?: string;
  /** ro/readonly, rw/readwrite; bind and secret/ssh default read-only, cache/tmpfs read-write. */
  readOnly: boolean;
  /** cache: id (defaults to target); secret/ssh: id (secret defaults to basename of target). */
  id?: string;
  /** cache: sharing=shared|private|locked (default shared). */
  sharing?: 'shared' | 'private' | 'locked';
  /** secret/ssh: required=true makes a missing secret an error. */
  required: boolean;
  /** tmpfs: size in bytes. */
  size?: number;
  /** mode/uid/gid (cache, secret, ssh). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** secret: env=NAME exposes the secret as an environment variable instead of a file. */
  env?: string;
}

export interface RunInstruction extends InstructionBase<'RUN'> {
  cmd: CommandLine;
  heredocs: Heredoc[];
  mounts: RunMount[];
  /** --network=default|none|host (unexpanded; validated when it has no `$`). */
  network?: string;
  /** --security=sandbox|insecure */
  security?: string;
}

export interface CmdInstruction extends InstructionBase<'CMD'> {
  cmd: CommandLine;
}

export interface EntrypointInstruction extends InstructionBase<'ENTRYPOINT'> {
  cmd: CommandLine;
}

/** COPY and ADD: sources (unexpanded words or JSON strings) then dest. */
export interface CopyLikeBase<K extends 'COPY' | 'ADD'> extends InstructionBase<K> {
  /** The array form was used (`COPY ["a b", "/dst"]`). */
  json: boolean;
  /** Source words; heredoc markers (`<<EOF`) are not here but in heredocs (as files named after them). */
  sources: string[];
  dest: string;
  heredocs: Heredoc[];
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
  parents: boolean;
}

export interface CopyInstruction extends CopyLikeBase<'COPY'> {
  /** --from=stage|index|image */
  from?: string;
}

export interface AddInstruction extends CopyLikeBase<'ADD'> {
  /** --checksum=sha256:... (URL sources) */
  checksum?: string;
  /** --keep-git-dir */
  keepGitDir: boolean;
  /** --unpack=true|false (undefined: auto-extract local tarballs, as ADD always did) */
  unpack?: boolean;
}

/** A key/value pair as written (quotes and escapes intact; expand both with expandWord). */
export interface KeyValue {
  key: string;
  value: string;
}

export interface EnvInstruction extends InstructionBase<'ENV'> {
  /** In order; `ENV K V` (legacy, one pair, value = rest of line) or `ENV K=V K2=V2`. */
  pairs: KeyValue[];
}

export interface LabelInstruction extends InstructionBase<'LABEL'> {
  pairs: KeyValue[];
}

/** `ARG name[=default]`; several per line allowed. value undefined = no default. */
export interface ArgDecl {
  key: string;
  value?: string;
}

export interface ArgInstruction extends InstructionBase<'ARG'> {
  args: ArgDecl[];
}

export interface FromInstruction extends InstructionBase<'FROM'> {
  /** Unexpanded image reference, `scratch` or an earlier stage's name. */
  image: string;
  /** --platform=... (unexpanded). */
  platform?: string;
  /** `AS name`, lower-cased. */
  stageName?: string;
}

export interface WorkdirInstruction extends InstructionBase<'WORKDIR'> {
  path: string;
}

export interface UserInstruction extends InstructionBase<'USER'> {
  user: string;
}

export interface ExposeInstruction extends InstructionBase<'EXPOSE'> {
  ports: string[];
}

export interface VolumeInstruction extends InstructionBase<'VOLUME'> {
  json: boolean;
  paths: string[];
}

export interface ShellInstruction extends InstructionBase<'SHELL'> {
  /** Always the JSON form (BuildKit rejects SHELL in shell form). */
  shell: string[];
}

export interface StopSignalInstruction extends InstructionBase<'STOPSIGNAL'> {
  signal: string;
}

/**
 * HEALTHCHECK as Docker's image config stores it: test is ['NONE'], ['CMD', ...args] (exec
 * form) or ['CMD-SHELL', command]. Durations in nanoseconds, undefined when not given.
 */
export interface HealthcheckInstruction extends InstructionBase<'HEALTHCHECK'> {
  test: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

export interface OnbuildInstruction extends InstructionBase<'ONBUILD'> {
  /** The trigger text as stored in the image config's OnBuild list (e.g. 'RUN echo hi'). */
  expression: string;
  /** The same trigger, parsed (never ONBUILD, FROM or MAINTAINER). */
  instruction: Instruction;
}

export interface MaintainerInstruction extends InstructionBase<'MAINTAINER'> {
  maintainer: string;
}

export type Instruction =
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | CopyInstruction
  | AddInstruction
  | EnvInstruction
  | LabelInstruction
  | ArgInstruction
  | FromInstruction
  | WorkdirInstruction
  | UserInstruction
  | ExposeInstruction
  | VolumeInstruction
  | ShellInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

export type InstructionKind = Instruction['kind'];

/** One build stage: a FROM and the instructions up to the next FROM. */
export interface Stage {
  /** 0-based position (COPY --from=0 refers to it). */
  index: number;
  /** `AS name`, lower-cased. */
  name?: string;
  from: FromInstruction;
  /** Everything after FROM, in order (no FROM in here). */
  instructions: Instruction[];
  location: Location;
}

export interface Dockerfile {
  directives: Directives;
  /** ARGs before the first FROM: only these are visible when expanding FROM lines. */
  globalArgs: ArgInstruction[];
  stages: Stage[];
}

export interface ParseOptions {
  /** Name used in locations and error messages (default 'Dockerfile'). */
  file?: string;
}

/**
 * Which instruction fields the builder expands with the stage's ARG/ENV values before it runs
 * them (BuildKit's rules). RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK are never expanded by
 * the builder (the shell in the container does it); RUN's --mount/--network/--security values
 * are. FROM (image and --platform) is expanded with the global ARGs only. Heredoc bodies are
 * expanded (by the shell for RUN; by the builder for COPY/ADD) only when `expand` is true.
 * ONBUILD triggers are expanded when they run in the child build.
 */
export const EXPANSION: Readonly<Record<InstructionKind, readonly string[]>> = {
  FROM: ['image', 'platform'],
  RUN: ['mounts', 'network', 'security'],
  CMD: [],
  ENTRYPOINT: [],
  COPY: ['sources', 'dest', 'chown', 'chmod', 'from', 'exclude'],
  ADD: ['sources', 'dest', 'chown', 'chmod', 'checksum', 'exclude'],
  ENV: ['pairs'],
  LABEL: ['pairs'],
  ARG: ['args'],
  WORKDIR: ['path'],
  USER: ['user'],
  EXPOSE: ['ports'],
  VOLUME: ['paths'],
  STOPSIGNAL: ['signal'],
  SHELL: [],
  HEALTHCHECK: [],
  ONBUILD: [],
  MAINTAINER: [],
};
