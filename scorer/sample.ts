/** `max` indices spread evenly over 0..n-1 (all of them when n ≤ max): a deterministic sample */
export function evenIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const step = n / max;
  return Array.from({ length: max }, (_, i) => Math.floor(i * step));
}

/** at most `max` items, spread evenly over the array */
export function evenSample<T>(items: readonly T[], max: number): T[] {
  return evenIndices(items.length, max).map((i) => items[i]);
}
