/**
 * The `process` an `exec` runs: read from `-p process.json` (a bare OCI process object, as
 * podman and containerd write it), or the container's own config.json process with the
 * command line's args and overrides, exactly as runc derives it.
 */
import * as fs from 'fs';
import { validateConfig, formatProblems, type Process, type Spec } from '@tsrun/spec';
import { describeSystemError, RuntimeError } from '../errors';
import { planLsm, probeLsmHost } from '../plan/lsm';
import { refuseUnsupported } from '../plan/unsupported';

export interface ExecProcessFlags {
  /** `-p`: path of a process.json; the flags below are then ignored, as runc does. */
  processFile?: string;
  /** The command and its arguments. */
  args: string[];
  cwd?: string;
  env: string[];
  tty: boolean;
  /** `--user uid[:gid]`, numbers only. */
  user?: string;
  additionalGids: string[];
  caps: string[];
  /** Set only when --no-new-privs was given. */
  noNewPrivs?: boolean;
  apparmor?: string;
  processLabel?: string;
}

export function execProcess(config: Spec, f: ExecProcessFlags): Process {
  const p = f.processFile ? readProcessFile(f.processFile) : fromConfig(config, f);
  validateProcess(p);
  return p;
}

function readProcessFile(file: string): Process {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new RuntimeError(`open ${file}: ${describeSystemError(e)}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new RuntimeError(`${file}: a process must be a JSON object`);
  // The process schema lives inside the config schema: check it there, and report only its problems.
  const problems = validateConfig({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: doc }).filter(
    (pr) => pr.path.startsWith('/process'),
  );
  if (problems.length) {
    throw new RuntimeError(`${file}: ${formatProblems(problems.map((pr) => ({ ...pr, path: pr.path.slice('/process'.length) || '/' })))}`);
  }
  return doc as Process;
}

function fromConfig(config: Spec, f: ExecProcessFlags): Process {
  if (f.args.length === 0) throw new RuntimeError('process args cannot be empty');
  const base: Process = JSON.parse(JSON.stringify(config.process ?? { cwd: '/' }));
  const p: Process = { ...base, args: f.args };
  if (f.cwd) p.cwd = f.cwd;
  if (f.apparmor) p.apparmorProfile = f.apparmor;
  if (f.processLabel) p.selinuxLabel = f.processLabel;
  if (f.caps.length) {
    const c = (p.capabilities = { ...(p.capabilities ?? {}) });
    c.bounding = [...(c.bounding ?? []), ...f.caps];
    c.effective = [...(c.effective ?? []), ...f.caps];
    c.permitted = [...(c.permitted ?? []), ...f.caps];
    // Ambient needs inheritable, which --cap does not add: only when the config has some (runc).
    if (c.inheritable) c.ambient = [...(c.ambient ?? []), ...f.caps];
  }
  p.env = [...(p.env ?? []), ...f.env];
  // A terminal only when asked for on the command line, whatever config.json says (runc).
  p.terminal = f.tty;
  if (f.noNewPrivs !== undefined) p.noNewPrivileges = f.noNewPrivs;
  const user = { ...(p.user ?? { uid: 0, gid: 0 }) };
  if (f.user) {
    const colon = f.user.indexOf(':');
    const uidText = colon < 0 ? f.user : f.user.slice(0, colon);
    if (colon >= 0) user.gid = parseId(f.user.slice(colon + 1), 'gid');
    user.uid = parseId(uidText, 'uid');
  }
  for (const g of f.additionalGids) {
    const gid = Number(g);
    if (!/^-?\d+$/.test(g.trim()) || gid < 0 || gid > 0xffffffff) {
      throw new RuntimeError(`additional-gids must be a positive number ${g}`);
    }
    user.additionalGids = [...(user.additionalGids ?? []), gid];
  }
  p.user = user;
  return p;
}

function parseId(text: string, what: 'uid' | 'gid'): number {
  if (!/^\d+$/.test(text) || Number(text) > 0xffffffff) {
    throw new RuntimeError(`parsing ${text} as int for ${what} failed: not a number`);
  }
  return Number(text);
}

/** runc's validateProcessSpec, plus what this runtime cannot do. */
function validateProcess(p: Process): void {
  if (!p.cwd) throw new RuntimeError('Cwd property must not be empty');
  if (!p.cwd.startsWith('/')) throw new RuntimeError('Cwd must be an absolute path');
  if (!p.args || p.args.length === 0) throw new RuntimeError('args must not be empty');
  // What create refuses to ignore (execCPUAffinity, ...), exec refuses too.
  refuseUnsupported({ ociVersion: '', root: { path: '' }, process: p } as Spec);
  // An AppArmor profile or SELinux label this host cannot apply (plan/lsm.ts).
  planLsm(p, undefined, probeLsmHost);
}
