/**
 * Hooks that run in the runtime's namespaces (prestart, createRuntime, poststart, poststop),
 * each with the container's state JSON on stdin and its timeout enforced. createContainer and
 * startContainer run inside the container and are executed by init (addon/child.cc).
 */
import type { Hook, State } from '@tsrun/spec';
import { RuntimeError } from '../errors';

export type HookKind = 'prestart' | 'createRuntime' | 'poststart' | 'poststop';

function envObject(env: string[] | undefined): NodeJS.ProcessEnv {
  if (!env) return process.env;
  const out: NodeJS.ProcessEnv = {};
  for (const e of env) {
    const eq = e.indexOf('=');
    if (eq > 0) out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

/** Runs one hook; throws a one-line RuntimeError when it fails or times out. */
export function runHook(kind: HookKind, index: number, hook: Hook, state: State): void {
  const args = hook.args && hook.args.length ? hook.args : [hook.path];
  // child_process costs ~4 ms to load: only containers with hooks pay for it.
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const res = spawnSync(hook.path, args.slice(1), {
    argv0: args[0],
    input: JSON.stringify(state),
    env: envObject(hook.env),
    timeout: hook.timeout ? hook.timeout * 1000 : undefined,
    killSignal: 'SIGKILL',
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 1 << 20,
  });
  const what = `${kind} hook #${index} (${hook.path})`;
  // A hook need not read the state: one that exits first makes our write fail with EPIPE, and
  // its own exit status is what counts (as with runc).
  if (res.error && (res.error as NodeJS.ErrnoException).code !== 'EPIPE') {
    const code = (res.error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT') throw new RuntimeError(`error running ${what}: timed out after ${hook.timeout}s`);
    throw new RuntimeError(`error running ${what}: ${code === 'ENOENT' ? 'no such file or directory' : res.error.message}`);
  }
  if (res.status !== 0) {
    const detail = (res.stderr?.toString() ?? '').trim().split('\n').pop();
    const how = res.signal ? `signal: ${res.signal}` : `exit status ${res.status}`;
    throw new RuntimeError(`error running ${what}: ${how}${detail ? `, stderr: ${detail}` : ''}`);
  }
}

export function runHooks(kind: HookKind, hooks: Hook[] | undefined, state: State): void {
  (hooks ?? []).forEach((h, i) => runHook(kind, i, h, state));
}

/** poststart and poststop failures are warnings, not errors (runtime-spec "Lifecycle"). */
export function runHooksWarn(kind: HookKind, hooks: Hook[] | undefined, state: State, warn: (msg: string) => void): void {
  (hooks ?? []).forEach((h, i) => {
    try {
      runHook(kind, i, h, state);
    } catch (e) {
      warn((e as Error).message);
    }
  });
}
