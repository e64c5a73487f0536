import type { CommandModule } from 'yargs';
import { contextOf, guard, GlobalArgs } from '../main';

/** Go's text/tabwriter as runc sets it up: min width 12, padding 3, spaces. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(12, ...rows.map((r) => r[c].length + 3)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('')).join('\n') + '\n';
}

export const command: CommandModule<GlobalArgs, GlobalArgs & { format: string; quiet: boolean }> = {
  command: 'list',
  aliases: ['ls'],
  describe: 'lists containers started by tsrun with the given root',
  builder: (y) =>
    y
      .option('format', { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table', describe: 'select one of: table or json' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'display only container IDs' }) as any,
  handler: (a) =>
    guard(() => {
      const { listContainers } = require('../../container/query') as typeof import('../../container/query');
      const { cliState } = require('../../container/state-json') as typeof import('../../container/state-json');
      const items = listContainers(contextOf(a));
      if (a.quiet) {
        process.stdout.write(items.map((i) => i.rec.id + '\n').join(''));
      } else if (a.format === 'json') {
        process.stdout.write(JSON.stringify(items.length ? items.map((i) => cliState(i.rec, i.status)) : null) + '\n');
      } else {
        const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
        for (const { rec, status } of items) {
          rows.push([rec.id, String(status === 'stopped' ? 0 : rec.pid), status, rec.bundle, rec.created, rec.owner]);
        }
        process.stdout.write(table(rows));
      }
    }),
};
