/**
 * Where tsrun keeps caches (compiled seccomp filters): outside any state root, so that a root
 * holds nothing but containers (managers scan theirs, and read every entry as one). Root's is
 * /run/tsrun-cache, a rootless user's $XDG_RUNTIME_DIR/tsrun-cache; TSRUN_CACHE_DIR overrides.
 * Like the state, it goes with a reboot.
 */
import * as path from 'path';

export function cacheDir(name: string, rootless: boolean): string | undefined {
  const env = process.env.TSRUN_CACHE_DIR;
  if (env) return path.join(env, name);
  if (!rootless) return path.join('/run/tsrun-cache', name);
  const xdg = process.env.XDG_RUNTIME_DIR;
  return xdg ? path.join(xdg, 'tsrun-cache', name) : undefined;
}
