/**
 * Images to bundles: `bundle IMAGE DIR` makes DIR/config.json and DIR/rootfs (an overlay mount
 * of the image's cached layers, or a copy) from an image in tsbuild's image store, in the
 * spirit of `umoci unpack`; `unbundle DIR` unmounts and removes such a bundle.
 *
 * The work is @tsrun/builder's. That package depends on this one, so it is required by name
 * when one of these commands runs: never bundled into tsrun, and never loaded otherwise.
 */
import { RuntimeError } from '../errors';
import { context } from './main';
import type { CommandSpec } from './parse';

interface BundleCli {
  bundleCommand(o: { image: string; dir: string; imageRoot?: string; copy?: boolean; warn?(msg: string): void }): Promise<unknown>;
  unbundleCommand(dir: string): void;
}

/** A name the bundler does not follow: the builder stays out of dist/tsrun.js. */
const BUILDER_BUNDLE_CLI = ['@tsrun', 'builder', 'dist', 'bundle', 'cli'].join('/');

function builder(): BundleCli {
  try {
    return require(BUILDER_BUNDLE_CLI) as BundleCli;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND' && err.message.includes(BUILDER_BUNDLE_CLI)) {
      throw new RuntimeError('images need the @tsrun/builder package, which is not installed (or not built)');
    }
    throw e;
  }
}

export const IMAGE_COMMANDS: CommandSpec[] = [
  {
    name: 'bundle',
    args: ['image', 'bundle-dir'],
    describe: 'make a bundle (config.json and an overlay-mounted rootfs) from an image in the image store',
    flags: [
      { name: 'image-root', type: 'string', describe: 'root of the image store (default $TSBUILD_ROOT, else /var/lib/tsbuild)' },
      { name: 'copy', type: 'boolean', default: false, describe: 'copy the layers into rootfs instead of mounting an overlay' },
    ],
    run: async (a) => {
      await builder().bundleCommand({
        image: a.args[0],
        dir: a.args[1],
        imageRoot: a.flags.imageRoot as string | undefined,
        copy: !!a.flags.copy,
        warn: (m) => context().log.warn(m),
      });
    },
  },
  {
    name: 'unbundle',
    args: ['bundle-dir'],
    describe: 'unmount and remove a bundle made by bundle',
    flags: [],
    run: (a) => builder().unbundleCommand(a.args[0]),
  },
];
