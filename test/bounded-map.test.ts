import t from 'tap';
import * as v8 from 'v8';
import * as vm from 'vm';
import { seededRandom } from '../demo/generate';
import { BoundedMap } from '../scorer/bounded-map';

/** what BoundedMap replaced (lineage.ts `bounded`): the oldest found by a new iterator each time */
function referenceSet(map: Map<string, number>, max: number, key: string, value: number): void {
  if (map.size >= max && !map.has(key)) map.delete(map.keys().next().value as string);
  map.delete(key);
  map.set(key, value);
}

t.test('bounded map: forgets exactly what a fresh iterator would, through sets, sets again, deletes and clears', async (t) => {
  const random = seededRandom(7);
  for (const max of [1, 2, 7, 50]) {
    const map = new BoundedMap<number>(max);
    const reference = new Map<string, number>();
    let differed = '';
    // keys from a pool a few times the bound: new keys evict, held ones move to the newest;
    // far more operations than `max`, so the kept iterator is let go and made again many
    // times and V8 rebuilds the tables under it
    for (let i = 0; i < 20_000 && !differed; i++) {
      const r = random();
      const key = `h:${Math.floor(random() * max * 3)}`;
      if (r < 0.8) {
        map.set(key, i);
        referenceSet(reference, max, key, i);
      } else if (r < 0.999) {
        map.delete(key);
        reference.delete(key);
      } else {
        map.clear();
        reference.clear();
      }
      const got = JSON.stringify([...map]);
      const want = JSON.stringify([...reference]);
      if (got !== want) differed = `after operation ${i}: ${got} (expected ${want})`;
    }
    t.equal(differed, '', `max ${max}: the same keys in the same order at every step`);
    t.ok(map.size <= max, `max ${max}: at most ${max} keys`);
  }
});

t.test('bounded map: a map at its bound that only sets the keys it holds keeps no old tables', async (t) => {
  // A kept iterator holds every table V8 replaced since it last moved; a map at its bound that
  // only sets keys it holds never evicts, so never moves it. Without letting it go every
  // `max` sets, this loop held about 1.8 MB more at every table V8 rebuilt (one per ~45,000
  // sets of 20,000 keys): ~100 MB here, and without end in a running extension.
  const gc = (() => {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  })();
  const max = 20_000;
  const map = new BoundedMap<number>(max);
  for (let i = 0; i <= max; i++) map.set(`h:${i}`, i); // the last one evicts: the iterator is made
  gc();
  const base = process.memoryUsage().heapUsed;
  const sets = 2_500_000;
  for (let i = 0; i < sets; i++) map.set(`h:${1 + (i % max)}`, i);
  gc();
  const grown = process.memoryUsage().heapUsed - base;
  t.ok(grown < 20 * 1048576, `the heap grew by ${(grown / 1048576).toFixed(1)} MB over ${sets.toLocaleString('en')} sets of held keys`);
  t.equal(map.size, max);
  t.equal(map.keys().next().value, `h:${1 + (sets % max)}`, 'the oldest is the one set longest ago');
});
