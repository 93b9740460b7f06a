// A hash table from 53-bit digests (state/event-digest.ts) to dense ids 0, 1, 2, … in the order
// first seen, in typed arrays: choosing among a million rows of one subject must not cost a
// JS Map of a million entries (some 50 MB of heap) in the process osqueryd's watchdog measures.

export class DigestTable {
  /** each slot's digest + 1 (0: empty) and the id given to it */
  private keys: Float64Array;
  private ids: Int32Array;
  private mask: number;
  /** distinct digests seen */
  size = 0;

  constructor(expected = 16) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.keys = new Float64Array(cap);
    this.ids = new Int32Array(cap);
    this.mask = cap - 1;
  }

  /** the id of `digest`, a new one (equal to the size before) when it was not seen */
  id(digest: number): number {
    const key = digest + 1;
    // (a digest's low 32 bits are mixed: ToUint32 takes them)
    for (let s = (digest >>> 0) & this.mask; ; s = (s + 1) & this.mask) {
      const k = this.keys[s];
      if (k === key) return this.ids[s];
      if (k === 0) {
        this.keys[s] = key;
        this.ids[s] = this.size;
        if (++this.size * 2 > this.keys.length) this.grow();
        return this.size - 1;
      }
    }
  }

  private grow(): void {
    const keys = this.keys;
    const ids = this.ids;
    this.keys = new Float64Array(keys.length * 2);
    this.ids = new Int32Array(keys.length * 2);
    this.mask = this.keys.length - 1;
    for (let s = 0; s < keys.length; s++) {
      if (keys[s] === 0) continue;
      let t = ((keys[s] - 1) >>> 0) & this.mask;
      while (this.keys[t] !== 0) t = (t + 1) & this.mask;
      this.keys[t] = keys[s];
      this.ids[t] = ids[s];
    }
  }
}
