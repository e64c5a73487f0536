import type { CommandModule } from 'yargs';
import { contextOf, guard, GlobalArgs } from '../main';

export const command: CommandModule<GlobalArgs, GlobalArgs & { containerId: string }> = {
  command: 'start <container-id>',
  describe: 'executes the user defined process in a created container',
  builder: (y) => y.positional('container-id', { type: 'string', demandOption: true }) as any,
  handler: (a) =>
    guard(() => {
      const { startContainer } = require('../../container/start') as typeof import('../../container/start');
      startContainer(contextOf(a), a.containerId);
    }),
};
