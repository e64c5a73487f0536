/**
 * `tsrun bundle IMAGE DIR` and `tsrun unbundle DIR`: the entry points the runtime's CLI loads
 * (by name, at run time: @tsrun/builder depends on @tsrun/runtime, not the other way round).
 */
import { defaultRoot } from '../store';
import { makeBundle, removeBundle, type BundleInfo } from './make';

export interface BundleCommandOptions {
  image: string;
  dir: string;
  /** The image store root; default $TSBUILD_ROOT, else /var/lib/tsbuild. */
  imageRoot?: string;
  copy?: boolean;
  warn?(msg: string): void;
}

export function bundleCommand(o: BundleCommandOptions): Promise<BundleInfo> {
  return makeBundle({
    storeRoot: o.imageRoot || defaultRoot(),
    image: o.image,
    dir: o.dir,
    rootfs: o.copy ? 'copy' : 'auto',
    warn: o.warn,
  });
}

export function unbundleCommand(dir: string): void {
  removeBundle(dir);
}
