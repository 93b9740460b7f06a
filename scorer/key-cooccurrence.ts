import type { Evidence } from './types';

// A session's missing companions: which keys it holds without the keys that accompany them in
// the training sessions. A program's calls come in groups (a socket is connected and closed, a
// file opened and read), so in the training sessions a key a predicts others: P(b absent | a
// present) is small for b that a's program always uses. A session that holds a but not b
// pays −log P(b absent | a present) for the pair, and its statistic is the mean over every
// pair of a key it holds and a known key it lacks. A process made of a few of a program's
// calls without the rest (a daemon's poll loop recorded on its own, a shell that only waits)
// pays for every companion it lacks; a complete process of a known program pays little.
//
// This is the vocabulary view of `sets` (key-sets.ts) without its nearest neighbour: `sets`
// needs one training session close to the whole set, this one asks of each key only what the
// training sessions that held it also held, so a combination of known groups that no single
// training session made is not penalised, while a group cut short is. Keys never seen in
// training are `sets`' evidence and are not counted here (no training session says what
// they come with).
//
// On ADFA-LD dev (one-off script on the same files) this ranks traces at AUC 0.818 alone,
// against 0.828 for `sets` and 0.80 for the n-gram language models; by attack kind it is the
// strongest of them on Adduser (0.868 against 0.843). The mean over pairs was the best of the
// forms tried: the sum per held key 0.811, with the cost of pairs held together that rarely
// are 0.67, the single most violated pair 0.764. Through `anomaly eval`, next to `sets`, it
// adds nothing: ADFA-LD AUC 0.8223 (strongest) / 0.8267 (Fisher) against 0.8258 for `sets`
// alone, HDFS F1 0.9985 unchanged with more normal sessions below 0.5 (1.3 % against 0.3 %).

/** add-α smoothing of the co-occurrence estimates, so no pair is impossible (Jeffreys prior) */
const ALPHA = 0.5;
/**
 * the most distinct keys whose co-occurrence is counted (a square table of this side): the
 * keys held by most training sessions are kept, and a session's rarer keys are left to `sets`.
 * A syscall alphabet is a few hundred calls and HDFS's log keys 30 or so; 1,024 keeps the table
 * at 4 MB whatever the input.
 */
export const MAX_KEYS = 1024;

export class KeyCooccurrence {
  private ids = new Map<string, number>();
  private names: string[] = [];
  /** per key id, the training sessions holding it */
  private held = new Uint32Array(0);
  /** [a * k + b]: training sessions holding both a and b */
  private both = new Uint32Array(0);
  private k = 0;

  fit(sessions: readonly (readonly string[])[]): void {
    const sessionsHolding = new Map<string, number>();
    const distinct = sessions.map((keys) => new Set(keys));
    for (const set of distinct) for (const key of set) sessionsHolding.set(key, (sessionsHolding.get(key) ?? 0) + 1);
    this.names = [...sessionsHolding]
      .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
      .slice(0, MAX_KEYS)
      .map(([key]) => key);
    this.ids = new Map(this.names.map((key, i) => [key, i]));
    const k = (this.k = this.names.length);
    this.held = new Uint32Array(k);
    this.both = new Uint32Array(k * k);
    for (const set of distinct) {
      const on = this.idsOf(set);
      for (const a of on) {
        this.held[a]++;
        for (const b of on) this.both[a * k + b]++;
      }
    }
  }

  /** the mean −log P(b absent | a present) over the pairs the session holds a and lacks b */
  surprise(keys: readonly string[]): Evidence {
    const on = this.idsOf(new Set(keys));
    const present = new Uint8Array(this.k);
    for (const a of on) present[a] = 1;
    let sum = 0;
    let pairs = 0;
    let worst = 0;
    let worstPair: [number, number] = [-1, -1];
    for (const a of on) {
      const row = a * this.k;
      const denominator = this.held[a] + 2 * ALPHA;
      for (let b = 0; b < this.k; b++) {
        if (present[b]) continue;
        const cost = -Math.log((this.held[a] - this.both[row + b] + ALPHA) / denominator);
        sum += cost;
        pairs++;
        if (cost > worst) {
          worst = cost;
          worstPair = [a, b];
        }
      }
    }
    if (!pairs) return { value: 0, detail: '' };
    const [a, b] = worstPair;
    const detail =
      a < 0
        ? ''
        : `\`${this.names[a]}\` without \`${this.names[b]}\`, which ${this.both[a * this.k + b]} of the ${this.held[a]} training sessions with \`${this.names[a]}\` hold`;
    return { value: sum / pairs, detail };
  }

  private idsOf(keys: Iterable<string>): number[] {
    const out: number[] = [];
    for (const key of keys) {
      const id = this.ids.get(key);
      if (id !== undefined) out.push(id);
    }
    return out;
  }
}
