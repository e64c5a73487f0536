import type { CommandModule } from 'yargs';
import { contextOf, guard, GlobalArgs } from '../main';

export const command: CommandModule<GlobalArgs, GlobalArgs & { containerId: string; signal: string; all: boolean }> = {
  command: 'kill <container-id> [signal]',
  describe: 'kill sends the specified signal (default: SIGTERM) to the container\'s init process',
  builder: (y) =>
    y
      .positional('container-id', { type: 'string', demandOption: true })
      .positional('signal', { type: 'string', default: 'SIGTERM' })
      .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'send the signal to all processes in the container' }) as any,
  handler: (a) =>
    guard(() => {
      const { parseSignal } = require('../../signals') as typeof import('../../signals');
      const { killContainer } = require('../../container/kill') as typeof import('../../container/kill');
      const sig = parseSignal(String(a.signal));
      killContainer(contextOf(a), a.containerId, sig, a.all);
    }),
};
