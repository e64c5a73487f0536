/**
 * AppArmor and SELinux: process.apparmorProfile, process.selinuxLabel and linux.mountLabel.
 *
 * The process's profile or label is requested the way runc does it: by writing to the LSM's
 * "exec" attribute of the process just before execve, so that the kernel applies it at the
 * exec (AppArmor: "exec PROFILE" into /proc/self/attr/apparmor/exec, or the older shared
 * /proc/self/attr/exec; SELinux: the label into /proc/self/attr/exec). The mount label goes
 * into the options of the filesystems the container mounts (context="LABEL").
 *
 * Where the host lacks the LSM, asking for it is an error before anything is made. runc 1.1.5
 * gets there too, but later and less clearly (a failed write of /proc/self/attr/exec in the
 * container's init for AppArmor, EINVAL from mount for a mountLabel); its SELinux message is
 * kept word for word, and AppArmor's is the one later runc versions give.
 */
import * as fs from 'fs';
import type { Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import type { MountOp, NativePlan } from './native-plan';
import { OpKind } from './native-plan';

/** What the host offers. */
export interface LsmHost {
  /** AppArmor is enabled (/sys/module/apparmor/parameters/enabled is Y, securityfs shows it). */
  apparmor: boolean;
  /** The kernel has the per-LSM attribute directory /proc/self/attr/apparmor (Linux 5.8+). */
  apparmorAttrDir: boolean;
  /** SELinux is enabled: selinuxfs is mounted. */
  selinux: boolean;
}

/** A write to a /proc/self/attr file just before execve. */
export interface ExecAttr {
  path: string;
  value: string;
  /** For the error message: "apply apparmor profile". */
  what: string;
}

export interface LsmPlan {
  execAttrs: ExecAttr[];
  /** context="..." for the mounts that take a label, or undefined. */
  mountLabel?: string;
}

function readIf(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

export function probeLsmHost(): LsmHost {
  const apparmor =
    readIf('/sys/module/apparmor/parameters/enabled')?.trim() === 'Y' && fs.existsSync('/sys/kernel/security/apparmor');
  const selinux = /\sselinuxfs\s/.test(readIf('/proc/self/mountinfo') ?? '') || fs.existsSync('/sys/fs/selinux/enforce');
  return { apparmor, apparmorAttrDir: fs.existsSync('/proc/self/attr/apparmor'), selinux };
}

/**
 * The attribute writes and mount label a process (init or exec'd) needs; errors when the host
 * cannot. `host` may be given as the probe itself: it then runs only for a config that asks for
 * a label (the probe reads files every create would otherwise pay for).
 */
export function planLsm(
  proc: { apparmorProfile?: string; selinuxLabel?: string },
  mountLabel: string | undefined,
  probe: LsmHost | (() => LsmHost),
): LsmPlan {
  const execAttrs: ExecAttr[] = [];
  if (!proc.apparmorProfile && !proc.selinuxLabel && !mountLabel) return { execAttrs, mountLabel: undefined };
  const host = typeof probe === 'function' ? probe() : probe;
  if (proc.apparmorProfile) {
    if (!host.apparmor) throw new RuntimeError('apparmor: config provided but apparmor not supported');
    execAttrs.push({
      path: host.apparmorAttrDir ? '/proc/self/attr/apparmor/exec' : '/proc/self/attr/exec',
      value: `exec ${proc.apparmorProfile}`,
      what: 'apply apparmor profile: write ',
    });
  }
  if (proc.selinuxLabel || mountLabel) {
    if (!host.selinux) {
      throw new RuntimeError(
        proc.selinuxLabel
          ? 'selinux label is specified in config, but selinux is disabled or not supported'
          : 'mountLabel is specified in config, but selinux is disabled or not supported',
      );
    }
  }
  if (proc.selinuxLabel) {
    execAttrs.push({ path: '/proc/self/attr/exec', value: proc.selinuxLabel, what: 'set selinux process label: write ' });
  }
  return { execAttrs, mountLabel: mountLabel || undefined };
}

/** Filesystems runc mounts without a context= option: labels of their own, or none to give. */
const UNLABELLED = new Set(['proc', 'sysfs', 'cgroup', 'cgroup2', 'mqueue', 'bind', 'none']);

/** context="LABEL" added to a mount's data, as go-selinux's FormatMountLabel does. */
export function labelMount(op: MountOp, label: string): MountOp {
  if (op.kind !== OpKind.Mount || UNLABELLED.has(op.fstype ?? '')) return op;
  const context = `context="${label}"`;
  return { ...op, data: op.data ? `${op.data},${context}` : context };
}

/** The LSM settings of a container's config (init's process and linux.mountLabel). */
export function planContainerLsm(spec: Spec, host: LsmHost | (() => LsmHost) = probeLsmHost): LsmPlan {
  return planLsm(spec.process ?? {}, spec.linux?.mountLabel, host);
}

/** A launch plan with the LSM settings in place. */
export function applyLsm(plan: NativePlan, lsm: LsmPlan): NativePlan {
  const label = lsm.mountLabel;
  return { ...plan, execAttrs: lsm.execAttrs, ops: label ? plan.ops.map((op) => labelMount(op, label)) : plan.ops };
}
