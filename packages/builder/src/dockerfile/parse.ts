import type { ArgInstruction, Dockerfile, ParseOptions, Stage } from './ast';
import { DockerfileError } from './errors';
import { toInstruction } from './instructions';
import { parseNodes } from './nodes';

/**
 * Parses a Dockerfile into stages and typed instructions (nothing expanded); throws
 * DockerfileError (`<file>:<line>:<col>: <what>`). ARGs before the first FROM are the global
 * args; any other instruction there is an error, as are duplicate stage names.
 */
export function parseDockerfile(text: string, opts: ParseOptions = {}): Dockerfile {
  const file = opts.file ?? 'Dockerfile';
  const { directives, nodes } = parseNodes(text, file);
  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  for (const node of nodes) {
    const ins = toInstruction(node, file);
    if (ins.kind === 'FROM') {
      if (ins.stageName && stages.some((s) => s.name === ins.stageName)) {
        throw new DockerfileError(ins.location, `duplicate stage name ${JSON.stringify(ins.stageName)}`);
      }
      stages.push({ index: stages.length, name: ins.stageName, from: ins, instructions: [], location: { ...ins.location } });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage) {
      if (ins.kind === 'ARG') {
        globalArgs.push(ins);
        continue;
      }
      throw new DockerfileError(ins.location, `no build stage in current context (${ins.kind} before the first FROM)`);
    }
    stage.instructions.push(ins);
    stage.location.endLine = ins.location.endLine;
  }
  if (stages.length === 0) {
    const at = globalArgs.length ? globalArgs[globalArgs.length - 1].location : { file, line: 1, column: 1 };
    throw new DockerfileError(at, 'no FROM instruction: a Dockerfile needs at least one build stage');
  }
  return { directives, globalArgs, stages };
}
