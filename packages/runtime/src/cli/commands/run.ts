import type { CommandModule } from 'yargs';
import { contextOf, guard, GlobalArgs } from '../main';
import { CreateArgs, createOptions, withCreateOptions } from './create-options';

export const command: CommandModule<GlobalArgs, GlobalArgs & CreateArgs & { detach: boolean; keep: boolean }> = {
  command: 'run <container-id>',
  describe: 'create and run a container',
  builder: (y) =>
    withCreateOptions(y)
      .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'detach from the container\'s process' })
      .option('keep', { type: 'boolean', default: false, describe: 'do not delete the container after it exits' }) as any,
  handler: (a) =>
    guard(() => {
      const { runContainer } = require('../../container/run') as typeof import('../../container/run');
      return runContainer(contextOf(a), { ...createOptions(a), detach: a.detach, keep: a.keep });
    }),
};
