import type { CommandModule } from 'yargs';
import { contextOf, guard, GlobalArgs } from '../main';

export const command: CommandModule<GlobalArgs, GlobalArgs & { containerId: string }> = {
  command: 'state <container-id>',
  describe: 'output the state of a container',
  builder: (y) => y.positional('container-id', { type: 'string', demandOption: true }) as any,
  handler: (a) =>
    guard(() => {
      const { currentStatus } = require('../../container/query') as typeof import('../../container/query');
      const { cliState } = require('../../container/state-json') as typeof import('../../container/state-json');
      const ctx = contextOf(a);
      const rec = ctx.store.load(a.containerId);
      process.stdout.write(JSON.stringify(cliState(rec, currentStatus(ctx, rec)), null, 2));
    }),
};
