// Which windows a host's window baseline (pool.ts, WindowPool) lets go when it holds
// more than it may. Oldest first over the host let one account that floods the host with rows
// push every other subject's windows out: at 400 rows a minute, 20,000 rows are under an hour,
// and a deploy account's windows of the hours before were gone, its usual pace with them. So
// the subject holding the most rows gives up its oldest window, until the baseline is within
// bounds: a flood costs the flooder's own history first.
import { BinaryHeap } from '../binary-heap';

/**
 * Windows to drop (true), given each window's subject (`who`) and rows (`size`), oldest first;
 * `over(rows, windows)` says whether what is kept is still too much. The newest window is
 * always kept.
 */
export function windowsToDrop(who: readonly number[], size: readonly number[], over: (rows: number, windows: number) => boolean): boolean[] {
  const drop = new Array<boolean>(size.length).fill(false);
  let rows = size.reduce((a, b) => a + b, 0);
  let windows = size.length;
  if (!over(rows, windows)) return drop;
  // each subject's rows held and its windows that may go, oldest first
  const held = new Map<number, number>();
  const queues = new Map<number, number[]>();
  for (let i = 0; i < size.length; i++) {
    held.set(who[i], (held.get(who[i]) ?? 0) + size[i]);
    if (i === size.length - 1) continue;
    let q = queues.get(who[i]);
    if (!q) queues.set(who[i], (q = []));
    q.push(i);
  }
  // subjects by rows held, most first (among equals, the one whose next window is older)
  type Entry = { subject: number; rows: number; queue: number[]; next: number };
  const heap = new BinaryHeap<Entry>((x, y) => x.rows > y.rows || (x.rows === y.rows && x.queue[x.next] < y.queue[y.next]));
  for (const [subject, queue] of queues) heap.push({ subject, rows: held.get(subject)!, queue, next: 0 });
  while (heap.size && over(rows, windows)) {
    const e = heap.pop()!;
    const w = e.queue[e.next++];
    drop[w] = true;
    rows -= size[w];
    windows--;
    e.rows -= size[w];
    if (e.next < e.queue.length) heap.push(e);
  }
  return drop;
}
