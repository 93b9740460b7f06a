import t from 'tap';
import * as v8 from 'v8';
import { HeapKeeper, oldSpaceFree } from '../scorer/heap';
import { fitEnded, pacer } from '../scorer/pacing';

const used = () => v8.getHeapStatistics().used_heap_size;
const MB = 1024 * 1024;

t.test('garbage past the slack is collected, and only then', async (t) => {
  const keeper = new HeapKeeper(8 * MB);
  t.equal(keeper.check(), false, 'nothing allocated yet: no collection');
  // kept alive long enough to reach the old generation, then dropped
  let junk: { i: number; s: string }[] | null = Array.from({ length: 400_000 }, (_, i) => ({ i, s: `token-${i}` }));
  t.ok(used() > 8 * MB, 'the heap holds the junk');
  t.equal(keeper.check(), true, 'grown past the slack: collected');
  t.equal(junk.length, 400_000, 'what is still referenced survives');
  const holding = used();
  junk = null;
  t.equal(keeper.check(), false, 'dropping it allocates nothing: no collection yet');
  // a second heap of garbage, unreferenced when the keeper looks
  let more: string[] | null = Array.from({ length: 400_000 }, (_, i) => `more-${i}`);
  t.equal(more.length, 400_000);
  more = null;
  t.equal(keeper.check(), true, 'the next growth past the slack collects');
  t.ok(
    used() < holding - 8 * MB,
    `both heaps of garbage are gone (${(used() / MB).toFixed(0)} MB used, ${(holding / MB).toFixed(0)} MB while holding the first)`,
  );
  t.equal(keeper.collections, 2);
});

t.test('the slack counts from the lowest heap seen, not only from the last forced collection', async (t) => {
  // a forced collection in the middle of a training measures the training's live data; once
  // V8 frees that on its own, garbage may not pile up by the training's size before the next
  const gc = (await import('vm')).runInNewContext('gc') as () => void;
  const keeper = new HeapKeeper(8 * MB);
  let live: { i: number; s: string }[] | null = Array.from({ length: 400_000 }, (_, i) => ({ i, s: `live-${i}` }));
  t.equal(keeper.check(), true, 'collected while the training data is live');
  t.equal(live.length, 400_000);
  live = null;
  gc();
  t.equal(keeper.check(), false, 'V8 freed it on its own: nothing to collect');
  const low = used();
  let junk: string[] | null = Array.from({ length: 400_000 }, (_, i) => `junk-${i}`);
  t.ok(used() - low > 8 * MB, `garbage past the slack since the lowest heap (${((used() - low) / MB).toFixed(0)} MB)`);
  t.equal(junk.length, 400_000);
  junk = null;
  t.equal(keeper.check(), true, 'is collected');
});

t.test("a fit's end collects past a quarter of the slack, through the scorer thread's hook", async (t) => {
  const keeper = new HeapKeeper(32 * MB);
  keeper.check(0);
  const low = used();
  const hook = pacer.onFitEnd;
  pacer.onFitEnd = () => keeper.afterFit();
  try {
    const before = keeper.collections;
    fitEnded();
    t.equal(keeper.collections, before, 'nothing piled up: no collection');
    let junk: string[] | null = Array.from({ length: 400_000 }, (_, i) => `fit-${i}`);
    t.ok(used() - low > 8 * MB && used() - low < 32 * MB, `past a quarter of the slack, under the slack (${((used() - low) / MB).toFixed(0)} MB)`);
    t.equal(junk.length, 400_000);
    junk = null;
    t.equal(keeper.check(), false, 'under the slack: check() leaves it');
    fitEnded();
    t.equal(keeper.collections, before + 1, 'the end of a fit collected');
    t.ok(used() < low + 2 * MB, `the garbage is gone (${((used() - low) / MB).toFixed(1)} MB above the heap before it)`);
  } finally {
    pacer.onFitEnd = hook;
  }
});

t.test("the keeper's collection compacts the old generation when its pages hold more than the free bound", async (t) => {
  // survivors scattered over many pages (every fourth object of each heap of them kept), as a
  // flood's stores leave them: a collection frees the rest but keeps the pages committed
  const keeper = new HeapKeeper(8 * MB, 8 * MB);
  keeper.check(0);
  const kept: { s: string; n: number }[] = [];
  for (let round = 0; round < 4; round++) {
    const all = Array.from({ length: 200_000 }, (_, n) => ({ s: `value-${round}-${n}`, n }));
    for (let n = 0; n < all.length; n += 4) kept.push(all[n]);
  }
  t.equal(keeper.check(0), true, 'collected');
  t.ok(keeper.compactions >= 1, `and compacted (${keeper.compactions})`);
  t.ok(oldSpaceFree() <= 8 * MB, `the old generation's free pages are within the bound: ${(oldSpaceFree() / MB).toFixed(1)} MB`);
  t.equal(kept.length, 200_000, 'what is referenced survives');
  t.equal(kept[199_999].s, 'value-3-199996');
});
