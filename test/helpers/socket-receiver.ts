/**
 * The receiving end of a socket the runtime sends an fd to (--console-socket, --pidfd-socket),
 * as a manager would hold it: a python script of test/helpers listening on a unix socket,
 * printing "listening", then what it received. Each one is killed after its test.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { waitFor } from './runtime';

const running = new Set<ChildProcess>();
afterEach(() => {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
});

export interface Receiver {
  sock: string;
  /** Its stdout once it exited 0 (bounded by 20 s); any other end throws with what it printed. */
  output(): Promise<string>;
}

export async function startReceiver(script: string, sock: string, args: string[] = []): Promise<Receiver> {
  const name = path.basename(script);
  const child = spawn('python3', [script, sock, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(() => out.startsWith('listening\n'), `${name} to listen (${err})`);
  return {
    sock,
    output: async () => {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 20000)));
      const code = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (code !== 0) throw new Error(`${name}: ${code}; stdout ${JSON.stringify(out)}; stderr ${err}`);
      return out;
    },
  };
}
