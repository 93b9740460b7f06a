// Which windows a host's window baseline (scorer/windows.ts, WindowPool) lets go when it holds
// more than it may. Oldest first over the host let one account that floods the host with rows
// push every other subject's windows out: at 400 rows a minute, 20,000 rows are under an hour,
// and a deploy account's windows of the last days were gone, its usual pace with them. So the
// subject holding the most rows gives up its oldest window, until the baseline is within bounds:
// a flood costs the flooder's own history first.

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
  // each subject's windows oldest first, and its rows kept
  const queues = new Map<number, number[]>();
  const held = new Map<number, number>();
  for (let i = 0; i < size.length - 1; i++) {
    let q = queues.get(who[i]);
    if (!q) queues.set(who[i], (q = []));
    q.push(i);
  }
  for (let i = 0; i < size.length; i++) held.set(who[i], (held.get(who[i]) ?? 0) + size[i]);
  // a max-heap of subjects by rows held (ties: the one whose next window is older first)
  const heap = [...queues.keys()];
  const next = new Map<number, number>([...queues.keys()].map((s) => [s, 0]));
  const before = (a: number, b: number) =>
    held.get(a)! > held.get(b)! || (held.get(a) === held.get(b) && queues.get(a)![next.get(a)!] < queues.get(b)![next.get(b)!]);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < heap.length && before(heap[l], heap[top])) top = l;
      if (r < heap.length && before(heap[r], heap[top])) top = r;
      if (top === i) return;
      [heap[i], heap[top]] = [heap[top], heap[i]];
      i = top;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  while (heap.length && over(rows, windows)) {
    const s = heap[0];
    const at = next.get(s)!;
    const w = queues.get(s)![at];
    drop[w] = true;
    rows -= size[w];
    windows--;
    held.set(s, held.get(s)! - size[w]);
    next.set(s, at + 1);
    if (at + 1 >= queues.get(s)!.length) {
      heap[0] = heap[heap.length - 1];
      heap.pop();
    }
    down(0);
  }
  return drop;
}
