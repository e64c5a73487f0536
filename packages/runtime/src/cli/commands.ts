/** The command table. Each command's module is required only when that command runs. */
import type { CommandModule } from 'yargs';

export const COMMANDS: CommandModule<any, any>[] = [
  require('./commands/spec').command,
  require('./commands/create').command,
  require('./commands/start').command,
  require('./commands/run').command,
  require('./commands/state').command,
  require('./commands/kill').command,
  require('./commands/delete').command,
  require('./commands/list').command,
  require('./commands/features').command,
];
