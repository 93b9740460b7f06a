import * as v8 from 'v8';
import * as vm from 'vm';

// Keep garbage from counting as memory growth under osquery's watchdog (design.md, "Live
// within osquery's budgets"). The watcher stops an extension whose resident memory grew by
// more than 200 MB over its first sample; it cannot tell live data from garbage V8 has not
// collected yet. V8 runs a full collection of its old generation only when that has grown
// by a factor since the last one, and the scorer makes a few kB of short-lived garbage per
// event (parsed rows, feature tokens, evidence) and megabytes per training step, so the
// pages of garbage pile up and stay resident until V8 looks. Measured on the watchdog
// benchmark's stream scored in-process: after 12,000 lines V8's used heap had grown by 87 MB,
// of which 8 MB were live. A collection when the heap has grown by a fixed slack since the
// last one bounds that, at the cost of a full collection per slack of garbage (tens of ms
// for a heap of this size, charged to the CPU budget like any other work).

/**
 * How much the used heap may grow past what the last collection left before another. 16 MB
 * since the windows' events became columns (scorer/subject.ts): with less live data, the
 * slack was most of what the heap kept above it. The watchdog stream replayed in-process for
 * 20 days with all three models: peak resident growth 123 and 130 MB with 32 MB of slack,
 * 90 and 104 MB with 16 (3–6 collections against 7–9, CPU within the runs' noise).
 */
export const DEFAULT_SLACK_BYTES = 16 * 1024 * 1024;

/**
 * Free space the old generation may keep in its committed pages, past what its live objects
 * use, after one of the keeper's collections; past it the keeper compacts once. V8 frees dead
 * objects but moves few live ones, so pages that hold a few survivors each stay committed: under
 * a local user's flood of long values the scorer thread's old space held 68 MB of live objects
 * in 105 MB of pages, and the free part kept growing (docs/benchmarks.md, "The flood's
 * batches and the scorer's free pages"). A compacting collection moves the survivors together
 * and gives the empty pages back (on a heap of 94 MB live in 236 MB: 96 MB committed, for
 * 0.45 s of CPU against 0.15 s for a collection that does not compact; while it copies, the
 * new pages and the old are both resident, for a moment), so it runs only when that much is
 * free, not on every collection.
 */
export const DEFAULT_FREE_BYTES = 24 * 1024 * 1024;

let collect: (() => void) | null = null;

/**
 * V8's full collection. `global.gc` exists only under --expose-gc; the flag can be set
 * while running, and a new context created after it has `gc`. Settings are per process, so
 * this serves the thread that asks and any thread after it.
 */
function fullCollection(): () => void {
  if (collect) return collect;
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return (collect = exposed);
  v8.setFlagsFromString('--expose-gc');
  collect = vm.runInNewContext('gc') as () => void;
  return collect;
}

function usedHeap(): number {
  return v8.getHeapStatistics().used_heap_size;
}

/** bytes of the old generation's committed pages that its objects do not use */
export function oldSpaceFree(): number {
  const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
  return old ? old.physical_space_size - old.space_used_size : 0;
}

/**
 * A full collection that also compacts every page. The flag is V8's, per process: it is set for
 * this collection only (a collection another thread runs meanwhile compacts too, which costs it
 * time but changes nothing else).
 */
function compactingCollection(): void {
  v8.setFlagsFromString('--compact-on-every-full-gc');
  try {
    fullCollection()();
  } finally {
    v8.setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

export class HeapKeeper {
  private base = usedHeap();
  /** full collections this keeper asked for */
  collections = 0;
  /** of them, the ones that compacted (see DEFAULT_FREE_BYTES) */
  compactions = 0;

  constructor(
    private readonly slackBytes = DEFAULT_SLACK_BYTES,
    private readonly freeBytes = DEFAULT_FREE_BYTES,
  ) {}

  /** collect when the used heap has grown by the slack since the last collection; cheap otherwise */
  check(slackBytes = this.slackBytes): boolean {
    const used = usedHeap();
    // V8's own collections count too: after one has freed a training's data, the slack is
    // counted from what it left, not from the training's heap at the last forced collection
    if (used < this.base) this.base = used;
    if (used - this.base < slackBytes) return false;
    fullCollection()();
    this.collections++;
    if (oldSpaceFree() > this.freeBytes) {
      compactingCollection();
      this.compactions++;
    }
    this.base = usedHeap();
    return true;
  }

  /**
   * After a model's fit has returned: collect once a quarter of the slack has piled up since
   * the last collection. Most of what a fit allocated (the window's events made objects
   * again, hashed vectors, folds, tfjs's per-step objects) is garbage by then, and the next
   * fit or scoring pass would otherwise allocate on top of up to a whole slack of it. The
   * 60-day replay with all three models, young generation as the scorer thread's
   * (docs/benchmarks.md): a collection after every fit kept resident memory 8–20 MB lower in
   * the median and 7–16 MB at its highest from the 10,000th line on, but with 864 collections
   * after fits; most rarity fold fits leave 1–4 MB, hence the quarter: 488 collections after
   * fits, and the highest RSS 255 → 244 MB (242 MB after every fit), scores unchanged.
   * The scorer thread asks only when osqueryd's watcher may count its memory (worker.ts).
   */
  afterFit(): boolean {
    return this.check(this.slackBytes / 4);
  }
}
