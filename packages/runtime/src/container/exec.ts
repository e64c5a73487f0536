/**
 * `exec`: run another process in a running (or created) container. It joins all of the
 * container's namespaces and its cgroup and gets the same security setup as init. In the
 * foreground tsrun waits for it and exits with its code; with --detach it returns once the
 * process has exec'd, leaving it to whoever reaps tsrun's children (conmon, the shim).
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadCgroupManager } from '../cgroups';
import { CgroupEntry, openCgroupEntry } from '../cgroups/entry';
import { explainJoinFailure, parseSubCgroupArgs, subCgroupTargets } from '../cgroups/sub-cgroups';
import { RuntimeError } from '../errors';
import { Launch } from '../launch/launcher';
import { connectConsoleSocket } from '../launch/console-socket';
import { PidfdSocket } from '../launch/pidfd-socket';
import { processState, sendToAgent } from '../launch/seccomp-agent';
import { cacheDir } from './cache-dir';
import { TtyRelay } from '../launch/tty-relay';
import { native } from '../native';
import { buildExecPlan } from '../plan/exec-plan';
import type { Context } from './context';
import { execProcess, ExecProcessFlags } from './exec-process';
import { waitForeground } from './foreground';
import { currentStatus } from './query';
import { specState } from './state-json';
import { writeFileAtomic } from './store';

export interface ExecOptions extends ExecProcessFlags {
  id: string;
  consoleSocket?: string;
  detach: boolean;
  pidFile?: string;
  /** --pidfd-socket: where a pidfd of the exec'd process goes. */
  pidfdSocket?: string;
  preserveFds: number;
  ignorePaused: boolean;
  /** --cgroup values: sub-cgroups of the container's cgroup to run in (cgroups/sub-cgroups.ts). */
  cgroups?: string[];
}

/** The same rules as `create`/`run` (runc's checkTerminal), for an exec'd process. */
export function checkTerminal(terminal: boolean, detach: boolean, consoleSocket: string | undefined): void {
  if (detach && terminal && !consoleSocket) {
    throw new RuntimeError('cannot allocate tty if tsrun will detach without setting console socket');
  }
  if ((!detach || !terminal) && consoleSocket) {
    throw new RuntimeError('cannot use console socket if tsrun will not detach or allocate tty');
  }
}

export async function execInContainer(ctx: Context, o: ExecOptions): Promise<number> {
  const lock = ctx.store.lock(o.id);
  let pid: number;
  let relay: TtyRelay | undefined;
  try {
    const rec = ctx.store.load(o.id);
    const status = currentStatus(ctx, rec);
    if (status === 'stopped') throw new RuntimeError('cannot exec in a stopped container');
    if (status === 'paused' && !o.ignorePaused) {
      throw new RuntimeError('cannot exec in a paused container (use --ignore-paused to override)');
    }
    if (status === 'creating') throw new RuntimeError('cannot exec in a container that is being created');
    const proc = execProcess(rec.config, o);
    const subRequest = parseSubCgroupArgs(o.cgroups);
    checkTerminal(!!proc.terminal, o.detach, o.consoleSocket);

    let pidfdSocket: PidfdSocket | undefined;
    let childConsole = -1; // the fd the process sends its pty master to
    let ourConsole = -1; // foreground terminal: our end, where the master arrives
    let launch: Launch | undefined;
    let entry: CgroupEntry | undefined;
    try {
      if (o.pidfdSocket) pidfdSocket = PidfdSocket.connect(path.resolve(o.pidfdSocket));
      if (o.consoleSocket) {
        childConsole = connectConsoleSocket(path.resolve(o.consoleSocket));
      } else if (proc.terminal) {
        [ourConsole, childConsole] = native().socketPair();
      }
      const plan = buildExecPlan(rec.config, proc, {
        initPid: rec.pid,
        rootfs: rec.rootfs,
        preserveFds: o.preserveFds,
        consoleSocketFd: childConsole,
        warn: (m) => ctx.log.warn(m),
        seccompCacheDir: cacheDir('seccomp', ctx.rootless),
      });
      // Stage 1 enters the container's cgroups by itself, as for create (cgroups/entry.ts), or
      // the sub-cgroups of them that --cgroup names.
      if (rec.cgroup) {
        const m = loadCgroupManager(rec.cgroup);
        entry = openCgroupEntry(m, ctx.rootless, subRequest && subCgroupTargets(m, subRequest));
      } else if (subRequest) {
        throw new RuntimeError('the container has no cgroup of its own: there is no sub-cgroup to join');
      }
      launch = Launch.run(entry ? { ...plan, ...entry.plan } : plan, {
        mapUser: () => {
          throw new RuntimeError('unexpected user namespace set-up in exec');
        },
        initBorn: () => undefined,
        creatingState: () => '',
        runtimeHooks: () => undefined,
        // The process loaded the container's filter, which notifies an agent: as runc, the
        // state says "running" and names init; the process's own pid comes beside it.
        seccompListener: (fd, execPid) => {
          const seccomp = rec.config.linux!.seccomp!;
          sendToAgent(seccomp.listenerPath, fd, processState(seccomp, execPid, specState(rec, 'running')));
        },
      });
      pid = launch.initPid;
      // The master was sent before the process reported ready: it is waiting in the socket.
      if (ourConsole >= 0) relay = TtyRelay.start(native().recvFd(ourConsole).fd);
      launch.commitExec();
      if (o.pidFile) writeFileAtomic(path.resolve(o.pidFile), String(pid));
      pidfdSocket?.send(pid);
      launch = undefined;
    } catch (e) {
      launch?.abort();
      if (relay) await relay.finish();
      throw subRequest && entry ? explainJoinFailure(e, { v2: entry.plan.cgroupPath, v1: entry.plan.cgroupTasks.map((t) => t.path) }) : e;
    } finally {
      entry?.close();
      pidfdSocket?.close();
      if (childConsole >= 0) fs.closeSync(childConsole);
      if (ourConsole >= 0) fs.closeSync(ourConsole);
    }
  } finally {
    lock.release();
  }
  if (o.detach) return 0;
  return waitForeground(pid, relay);
}
