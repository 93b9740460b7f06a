/**
 * A Map of at most `max` keys in which `set` makes its key the newest and, for a key not held,
 * first forgets the oldest: the insertion order is the order keys were last set in, as
 * `delete` then `set` on a Map gives. Used where a host's processes, sessions and programs are
 * remembered within a bound that any flood of new pids reaches.
 *
 * Finding the oldest as `keys().next()` cost a walk over every deleted entry before it: V8
 * leaves a deleted entry in its table as a hole until the table is rebuilt, which happens only
 * when the table is full, so a map evicting its oldest at each new key walked thousands of
 * holes each time (20,000 pids: about 8 µs a new pid in learnProcess, docs/benchmarks.md). An
 * iterator kept between evictions walks each hole once. What it yields is the oldest because
 * every key before it was yielded and deleted here, or deleted, and a key set again goes to the
 * end (ECMAScript's Map iteration order, not an engine's choice). It is let go every `max`
 * sets: a kept iterator holds on to every table V8 replaced since it last moved, and a map at
 * its bound that only sets keys it holds (no eviction, so no move) would otherwise hold more
 * of them for as long as it runs; a new one walks the holes at the front once.
 */
export class BoundedMap<V> extends Map<string, V> {
  private oldest: Iterator<string> | undefined;
  /** sets since `oldest` was made */
  private sets = 0;

  constructor(private readonly max: number) {
    super();
  }

  override set(key: string, value: V): this {
    if (++this.sets >= this.max) this.oldest = undefined;
    if (this.size >= this.max && !this.has(key)) this.deleteOldest();
    super.delete(key);
    return super.set(key, value);
  }

  override clear(): void {
    this.oldest = undefined;
    super.clear();
  }

  private deleteOldest(): void {
    if (!this.oldest) {
      this.oldest = this.keys();
      this.sets = 0;
    }
    const next = this.oldest.next();
    // (done only on an empty map, and then for good)
    if (next.done) this.oldest = undefined;
    else super.delete(next.value);
  }
}
