import type { CommandModule } from 'yargs';
import { contextOf, guard, GlobalArgs } from '../main';
import { CreateArgs, createOptions, withCreateOptions } from './create-options';

export const command: CommandModule<GlobalArgs, GlobalArgs & CreateArgs> = {
  command: 'create <container-id>',
  describe: 'create a container',
  builder: (y) => withCreateOptions(y) as any,
  handler: (a) =>
    guard(() => {
      const { createContainer } = require('../../container/create') as typeof import('../../container/create');
      createContainer(contextOf(a), createOptions(a));
    }),
};
