import type { CommandModule } from 'yargs';
import { contextOf, guard, GlobalArgs } from '../main';

export const command: CommandModule<GlobalArgs, GlobalArgs & { containerId: string; force: boolean }> = {
  command: 'delete <container-id>',
  describe: 'delete any resources held by the container',
  builder: (y) =>
    y
      .positional('container-id', { type: 'string', demandOption: true })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'forcibly delete the container if it is still running (uses SIGKILL)' }) as any,
  handler: (a) =>
    guard(() => {
      const { deleteContainer } = require('../../container/delete') as typeof import('../../container/delete');
      deleteContainer(contextOf(a), a.containerId, a.force);
    }),
};
