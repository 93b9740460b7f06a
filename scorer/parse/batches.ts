import type { ResultRow } from '../types';
import type { LogItem } from './results';

/**
 * Rows of parsed log items in batches of `size`, so a caller awaits the scorer once per batch,
 * not per row. A bad line goes to `onError` (default: stop with its error).
 */
export async function* rowBatches(
  items: AsyncIterable<LogItem>,
  size = 2000,
  onError: (item: LogItem & { error: Error }) => void = (item) => {
    throw item.error;
  },
): AsyncGenerator<ResultRow[]> {
  let batch: ResultRow[] = [];
  for await (const item of items) {
    if (item.error) {
      onError(item as LogItem & { error: Error });
      continue;
    }
    for (const row of item.rows ?? []) {
      batch.push(row);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length) yield batch;
}
