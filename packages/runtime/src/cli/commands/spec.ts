import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { guard, GlobalArgs } from '../main';
import { RuntimeError } from '../../errors';

export const command: CommandModule<GlobalArgs, Omit<GlobalArgs, 'rootless'> & { bundle: string; rootless: boolean }> = {
  command: 'spec',
  describe: 'create a new specification file',
  builder: (y) =>
    y
      .option('bundle', { alias: 'b', type: 'string', default: '', describe: 'path to the root of the bundle directory' })
      .option('rootless', { type: 'boolean', default: false, describe: 'generate a configuration for a rootless container' }) as any,
  handler: (a) =>
    guard(() => {
      const { defaultSpec, specJSON } = require('@tsrun/spec') as typeof import('@tsrun/spec');
      const file = path.join(a.bundle || '.', 'config.json');
      if (fs.existsSync(file)) throw new RuntimeError('File config.json exists. Remove it first.');
      fs.writeFileSync(file, specJSON(defaultSpec({ rootless: a.rootless })), { mode: 0o666 });
    }),
};
