/**
 * Drives a container's children through the sync protocol, from clone() to "init is ready
 * and waits for start". The runtime's side of each step (cgroup, id maps, hooks) is given as
 * callbacks so that this module only knows the order of the conversation.
 */
import * as fs from 'fs';
import { errnoText, RuntimeError } from '../errors';
import { native } from '../native';
import type { NativePlan } from '../plan/native-plan';
import { type Message, Msg, receive, send } from './protocol';
import { NEW_LISTENER } from './seccomp-agent';

export interface LaunchSteps {
  /** Stage 1 exists and waits: place it where it must be before it enters anything (systemd's scope). */
  beforeGo?(stage1Pid: number): void;
  /** Our own work that can overlap the child's set-up (which runs on another CPU). */
  whileChildWorks?(): void;
  /** The same, while init sets up the rootfs (its mounts are most of the container's set-up). */
  whileInitWorks?(initPid: number): void;
  /** Stage 1 made its user namespace: write uid_map/gid_map for it. */
  mapUser(stage1Pid: number): void;
  /** Init exists (not yet running any setup). */
  initBorn(initPid: number): void;
  /** The state JSON createContainer hooks receive. */
  creatingState(initPid: number): string;
  /** Mounts are done, pivot_root not yet: prestart and createRuntime hooks. */
  runtimeHooks(initPid: number): void;
  /**
   * The process (init before it reports ready, an exec'd process just before its exec) loaded a
   * filter with SCMP_ACT_NOTIFY rules: hand its listener to the seccomp agent (launch/seccomp-agent.ts).
   * `listener` is closed once this returns.
   */
  seccompListener?(listener: number, pid: number): void;
}

export class Launch {
  private fd: number;
  readonly stage1Pid: number;
  initPid = 0;
  /** The filter notifies an agent: a record may bring its listener (MSG_SECCOMP_FD). */
  private readonly withFds: boolean;

  private constructor(spawned: { pid: number; fd: number }, private readonly steps: LaunchSteps, plan: NativePlan) {
    this.stage1Pid = spawned.pid;
    this.fd = spawned.fd;
    this.withFds = !!plan.seccomp && ((plan.seccompFlags ?? 0) & NEW_LISTENER) !== 0;
  }

  /** Clones the container's processes and runs the conversation up to MSG_READY. */
  static run(plan: NativePlan, steps: LaunchSteps): Launch {
    const launch = new Launch(native().spawn(plan), steps, plan);
    try {
      launch.converse(steps);
    } catch (e) {
      launch.abort();
      throw e;
    }
    return launch;
  }

  private converse(steps: LaunchSteps): void {
    steps.beforeGo?.(this.stage1Pid);
    send(this.fd, Msg.Go);
    steps.whileChildWorks?.();
    for (;;) {
      const m = this.receive();
      if (!m) throw new RuntimeError('container init exited before it was set up');
      switch (m.type) {
        case Msg.UsernsReady:
          steps.mapUser(this.stage1Pid);
          send(this.fd, Msg.UsernsMapped);
          break;
        case Msg.InitPid:
          this.initPid = m.value;
          native().waitPid(this.stage1Pid, false);
          steps.initBorn(this.initPid);
          send(this.fd, Msg.Go, steps.creatingState(this.initPid));
          steps.whileInitWorks?.(this.initPid);
          break;
        case Msg.RuntimeHooks:
          steps.runtimeHooks(this.initPid);
          send(this.fd, Msg.HooksDone);
          break;
        case Msg.SeccompFd:
          this.handOver(m);
          break;
        case Msg.Ready:
          return;
        case Msg.Error:
          throw new RuntimeError(m.value ? `${m.payload}: ${errnoText(m.value)}` : m.payload);
        default:
          throw new RuntimeError(`unexpected message ${m.type} from container init`);
      }
    }
  }

  /** The next record; an fd sent with one that is not MSG_SECCOMP_FD is closed. */
  private receive(): Message | undefined {
    const m = receive(this.fd, this.withFds);
    if (m?.fd !== undefined && m.type !== Msg.SeccompFd) {
      fs.closeSync(m.fd);
      delete m.fd;
    }
    return m;
  }

  /** MSG_SECCOMP_FD: the listener goes to the agent before anything else (the process may wait on it already). */
  private handOver(m: Message): void {
    if (m.fd === undefined) throw new RuntimeError('the seccomp listener did not arrive from the container process');
    try {
      if (!this.steps.seccompListener) throw new RuntimeError('unexpected seccomp listener from the container process');
      this.steps.seccompListener(m.fd, this.initPid);
    } finally {
      fs.closeSync(m.fd);
    }
  }

  /** The state is saved: let init wait for `start` on its own. */
  commit(startState: string): void {
    send(this.fd, Msg.Commit, startState);
    this.close();
  }

  /**
   * `exec`: let the process exec, and wait until it has. Its end of the sync socket is
   * close-on-exec, so EOF means the exec happened; a failure before it arrives as MSG_ERROR.
   */
  commitExec(): void {
    send(this.fd, Msg.Commit);
    let m = this.receive();
    // Its filter's listener, from the process (without no_new_privs) or the exec helper.
    if (m?.type === Msg.SeccompFd) {
      this.handOver(m);
      m = this.receive();
    }
    if (m?.type === Msg.Error) throw new RuntimeError(m.value ? `${m.payload}: ${errnoText(m.value)}` : m.payload);
    if (m) throw new RuntimeError(`unexpected message ${m.type} from the exec'd process`);
    this.close();
  }

  /** Kills and reaps whatever was started; leaves no process behind. */
  abort(): void {
    this.close();
    for (const pid of [this.initPid, this.stage1Pid]) {
      if (pid <= 0) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      try {
        native().waitPid(pid, false);
      } catch {
        /* already reaped */
      }
    }
  }

  private close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}
