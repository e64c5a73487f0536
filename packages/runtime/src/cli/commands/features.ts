import type { CommandModule } from 'yargs';
import { guard, GlobalArgs } from '../main';

export const command: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'features',
  describe: 'show the enabled features',
  handler: () =>
    guard(() => {
      const { features } = require('../../features') as typeof import('../../features');
      process.stdout.write(JSON.stringify(features(), null, 4) + '\n');
    }),
};
