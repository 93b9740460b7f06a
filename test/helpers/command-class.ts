import type { FeatureExtractor } from '../../scorer/features/extract';
import type { ResultRow } from '../../scorer/types';

/** a shell history row of `command`, as osqueryd logs one */
export function shellRow(command: string): ResultRow {
  return { query: 'pack_x_shell_history', host: 'h', time: 1_790_000_000, action: 'added', decorations: {}, columns: { command, uid: '1000' } };
}

/** the values of a class field (`argform`, `argnet`) the row's event carries, and whether each is paired with the program */
export function classesOf(x: FeatureExtractor, row: ResultRow, field: string): { values: string[]; paired: boolean } {
  const event = x.extract(row).event;
  const values = event.values.filter((v) => v.startsWith(`${field}=`));
  return { values, paired: values.every((v) => event.pairs.some((p) => p.startsWith('exe=') && p.endsWith(`>${v}`))) };
}
