/**
 * A seccomp agent for linux.seccomp.listenerPath (test/helpers/seccomp-agent.py), run as a
 * child of the test: what it received and answered comes back as parsed JSON lines. Every agent
 * is killed after its test, passed or failed.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { waitFor } from './runtime';

const SCRIPT = path.join(__dirname, 'seccomp-agent.py');
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
});

/** What the agent prints: a container process state it received, a notification it answered, a listener no process uses any more. */
export type AgentEvent =
  | { event: 'state'; state: Record<string, unknown> & { pid: number; state: Record<string, unknown> }; fds: number; fdKind: string | null }
  | { event: 'notif'; pid: number; syscall: string; path: string | null; answer: string }
  | { event: 'recv-error'; errno: number }
  | { event: 'closed'; pid: number };

export interface Agent {
  sock: string;
  events(): AgentEvent[];
  /** The first event `pick` accepts, waited for (bounded). */
  wait<T extends AgentEvent>(what: string, pick: (e: AgentEvent) => e is T): Promise<T>;
  /** The state messages received so far. */
  states(): Extract<AgentEvent, { event: 'state' }>[];
  kill(): Promise<void>;
}

/** Starts an agent on `sock` answering by `rules` (NAME=errno:N | NAME=value:N | NAME=continue). */
export async function startAgent(sock: string, rules: string[]): Promise<Agent> {
  const child = spawn('python3', [SCRIPT, sock, ...rules], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await waitFor(() => out.startsWith('listening\n') || child.exitCode !== null, `seccomp-agent.py to listen (${err})`);
  if (!out.startsWith('listening\n')) throw new Error(`seccomp-agent.py did not start: ${err}`);
  const events = (): AgentEvent[] =>
    out
      .split('\n')
      .slice(1)
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as AgentEvent);
  return {
    sock,
    events,
    states: () => events().filter((e): e is Extract<AgentEvent, { event: 'state' }> => e.event === 'state'),
    wait: async <T extends AgentEvent>(what: string, pick: (e: AgentEvent) => e is T) => {
      try {
        return (await waitFor(() => events().find(pick), `the seccomp agent to report ${what}`)) as T;
      } catch (e) {
        throw new Error(`${(e as Error).message} (it printed ${JSON.stringify(out)}, stderr ${JSON.stringify(err)})`);
      }
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
      running.delete(child);
    },
  };
}
